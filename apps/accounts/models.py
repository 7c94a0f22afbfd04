"""People, teams and the service accounts pipelines use."""

from django.contrib.auth.models import AbstractUser, Group
from django.db import models

from apps.common.models import TimeStampedModel

from .roles import Role


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
        return self.is_active and self.groups.filter(name=str(role)).exists()


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
