"""People, teams and the service accounts pipelines use."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth.models import AbstractUser, Group
from django.db import models
from django.db.models.signals import m2m_changed
from django.dispatch import receiver

from apps.common.models import TimeStampedModel

from .roles import Role
from .scopes import Scope


class User(AbstractUser):
    """A person, or the identity a service account acts under."""

    class Kind(models.TextChoices):
        HUMAN = "human", "Person"
        SERVICE = "service", "Service account"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.HUMAN)

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        """The printed name shown in records and signatures."""
        return self.get_full_name() or self.username

    @property
    def is_service_account(self) -> bool:
        return self.kind == self.Kind.SERVICE

    def has_role(self, role: Role | str) -> bool:
        return self.is_active and str(role) in self.group_names()

    def group_names(self) -> frozenset[str]:
        """The names of the user's groups (roles and teams), read once per loaded instance: a request
        loads its user afresh, and changes through `user.groups` clear it (see signals below)."""
        names = self.__dict__.get("_group_names")
        if names is None:
            names = self.__dict__["_group_names"] = frozenset(self.groups.values_list("name", flat=True))
        return names

    def forget_group_names(self) -> None:
        self.__dict__.pop("_group_names", None)


class Team(TimeStampedModel):
    """A group of people who own use cases and datasets. Its members share the team's group permissions."""

    key = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    # Membership is membership of this group, so guardian's group permissions reach every member.
    group = models.OneToOneField(Group, on_delete=models.PROTECT, related_name="team")

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name

    @property
    def members(self):
        return self.group.user_set.all()

    def has_member(self, user) -> bool:
        return self.group.user_set.filter(pk=user.pk).exists()


class ServiceAccount(TimeStampedModel):
    """A pipeline or tool that calls the API with API keys, acting as its own service-kind User."""

    name = models.SlugField(max_length=64, unique=True, help_text="Letters, digits, hyphens and underscores.")
    description = models.TextField(blank=True)
    team = models.ForeignKey(
        Team, on_delete=models.PROTECT, null=True, blank=True, related_name="service_accounts",
        help_text="The team answerable for this pipeline; the account is a member of the team's group.",
    )
    # The identity the account acts under, so guardian permissions and audit actors work as for people.
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="service_account")
    scopes = models.JSONField(default=list, help_text="Scope values this account's keys may use.")
    allowed_use_cases = models.ManyToManyField(
        "registry.UseCase", blank=True, related_name="restricted_service_accounts",
        help_text="When any are named, this account's keys reach only these use cases.",
    )
    is_active = models.BooleanField(default=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        help_text="Empty when Docket itself created the account.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def has_scope(self, scope: Scope | str) -> bool:
        return str(scope) in self.scopes


class ApiKey(models.Model):
    """One secret a service account authenticates with. Only its SHA-256 is stored; the key is shown once."""

    service_account = models.ForeignKey(ServiceAccount, on_delete=models.PROTECT, related_name="api_keys")
    prefix = models.CharField(max_length=16, unique=True, help_text="The visible part that identifies the key.")
    secret_hash = models.CharField(max_length=64, help_text="Hex SHA-256 of the whole key.")
    label = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revocation_reason = models.TextField(blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(revoked_at__isnull=True) | ~models.Q(revocation_reason=""),
                name="accounts_api_key_revocation_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_prefix}… ({self.service_account.name})"

    @property
    def display_prefix(self) -> str:
        """The start of the key as its holder sees it, e.g. dkt_3k9x2m7q."""
        return f"dkt_{self.prefix}"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_expired(self, at: dt.datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= at

    def status(self, at: dt.datetime) -> str:
        """Returns "revoked", "expired" or "active" at the given moment."""
        if self.is_revoked:
            return "revoked"
        if self.is_expired(at):
            return "expired"
        return "active"


@receiver(m2m_changed, sender=User.groups.through)
def _forget_cached_group_names(sender, instance, action, **kwargs):
    """Keeps `User.has_role` truthful when the same instance's groups change (`user.groups.add(...)`)."""
    if action in ("post_add", "post_remove", "post_clear") and isinstance(instance, User):
        instance.forget_group_names()
