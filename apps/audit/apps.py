from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _install_log_reading_wrapper(sender, connection, **kwargs) -> None:
    from .services import sequence_before_reading_the_log

    if connection.vendor == "postgresql" and sequence_before_reading_the_log not in connection.execute_wrappers:
        connection.execute_wrappers.insert(0, sequence_before_reading_the_log)


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the audit log's system checks)

        # Statements that read the log first sequence the entries their transaction queued (record()).
        connection_created.connect(_install_log_reading_wrapper, dispatch_uid="docket-audit-log-reading")
