import factory
from django.contrib.auth.models import Group

from apps.accounts import keys
from apps.accounts.models import ApiKey, ServiceAccount, Team, User
from apps.accounts.roles import Role
from apps.accounts.scopes import Scope


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
            self.groups.add(Group.objects.get_or_create(name=str(Role(role)))[0])  # a flush drops migration rows

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


class ServiceAccountFactory(factory.django.DjangoModelFactory):
    """ServiceAccountFactory(scopes=[Scope.GATE_CHECK], team=team, allowed_use_cases=[use_case])."""

    class Meta:
        model = ServiceAccount
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"pipeline-{n}")
    user = factory.SubFactory(
        UserFactory,
        username=factory.LazyAttribute(lambda user: f"svc.{user.factory_parent.name}"),
        first_name="",
        last_name="",
        email="",
        kind=User.Kind.SERVICE,
        password=factory.django.Password(None),
    )
    scopes = factory.LazyFunction(lambda: [Scope.READ.value])

    @factory.post_generation
    def team_membership(self, create, extracted, **kwargs):
        """A service account with a team is a member of the team's group, as service_account_create makes it."""
        if self.team_id is not None:
            self.team.group.user_set.add(self.user)

    @factory.post_generation
    def allowed_use_cases(self, create, extracted, **kwargs):
        if extracted:
            self.allowed_use_cases.set(extracted)


class ApiKeyFactory(factory.django.DjangoModelFactory):
    """An API key for a known plaintext: ApiKeyFactory(plaintext=keys.generate_key().plaintext).

    Use `api_key_with_plaintext()` when the test needs to present the key.
    """

    class Meta:
        model = ApiKey

    class Params:
        plaintext = factory.LazyFunction(lambda: keys.generate_key().plaintext)

    service_account = factory.SubFactory(ServiceAccountFactory)
    prefix = factory.LazyAttribute(lambda api_key: keys.parse_prefix(api_key.plaintext))
    secret_hash = factory.LazyAttribute(lambda api_key: keys.hash_key(api_key.plaintext))


def api_key_with_plaintext(**kwargs) -> tuple[ApiKey, str]:
    """Creates an ApiKey (without an audit entry) and returns it with the key to present."""
    plaintext = keys.generate_key().plaintext
    return ApiKeyFactory(plaintext=plaintext, **kwargs), plaintext
