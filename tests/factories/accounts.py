import factory
from django.contrib.auth.models import Group

from apps.accounts.models import Team, User
from apps.accounts.roles import Role


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.test")
    password = factory.django.Password("correct-horse-battery-staple")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        """UserFactory(roles=[Role.SUBMITTER]) puts the user in those role groups."""
        for role in extracted or []:
            self.groups.add(Group.objects.get(name=str(Role(role))))

    @factory.post_generation
    def teams(self, create, extracted, **kwargs):
        for team in extracted or []:
            self.groups.add(team.group)


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    key = factory.Sequence(lambda n: f"team-{n}")
    name = factory.LazyAttribute(lambda team: team.key.replace("-", " ").title())
    group = factory.LazyAttribute(lambda team: Group.objects.create(name=f"team:{team.key}"))
