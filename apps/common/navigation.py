"""The navigation bar of the web UI: which pages exist and which of them the signed-in user may open.

A page is listed only when its URL name resolves (the app that serves it is installed) and the user
passes its `allowed` test; every page also refuses users server-side, the bar only hides the link.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse

from apps.accounts.roles import Role

ROLE_NAMES = frozenset(str(role) for role in Role)


def _anyone_signed_in(user, roles: frozenset[str]) -> bool:
    return True


def _audit_reader(user, roles: frozenset[str]) -> bool:
    """The audit log is read by auditors and administrators (as the audit API allows)."""
    return user.is_superuser or bool({str(Role.AUDITOR), str(Role.ADMIN)} & roles)


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    allowed: Callable[[object, frozenset[str]], bool]


NAV_ITEMS = [
    NavItem("Dashboard", "home", _anyone_signed_in),
    NavItem("Reviews", "reviews:queue", _anyone_signed_in),
    NavItem("Use cases", "registry:use_case_list", _anyone_signed_in),
    NavItem("Audit log", "audit:entry_list", _audit_reader),
    NavItem("Gate", "gate:decision_list", _anyone_signed_in),
    NavItem("Lineage", "lineage:explore", _anyone_signed_in),
]


def navigation(request) -> dict:
    """Template context: `nav_links` [(label, url, is_current)] and `user_roles` (role names, sorted).

    Costs one query per page (the user's group names), whatever the page shows.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_links": [], "user_roles": []}
    group_names = getattr(user, "_docket_group_names", None)
    if group_names is None:  # shared with apps.reviews.selectors, which may have read them already
        group_names = user._docket_group_names = frozenset(user.groups.values_list("name", flat=True))
    roles = frozenset(name for name in group_names if name in ROLE_NAMES)
    links = []
    for item in NAV_ITEMS:
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            continue
        if item.allowed(user, roles):
            current = request.path == url if url == "/" else request.path.startswith(url)
            links.append((item.label, url, current))
    return {"nav_links": links, "user_roles": sorted(roles)}
