from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render


@login_required
def home(request):
    """The dashboard: inventory, reviews waiting for the user, expiring approvals, recent gate denials
    and failing checks, all limited to what the user may see (apps.common.dashboard)."""
    from apps.common.dashboard import dashboard_for

    return render(request, "common/dashboard.html", {"dashboard": dashboard_for(request.user)})


def healthz(request):
    """Liveness and database reachability, for the container health check."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any database failure means unhealthy
        return JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok"})
