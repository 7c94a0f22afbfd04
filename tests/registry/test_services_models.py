"""model_create and model_version_register: numbering, evidence, artifact checks and permissions."""

import hashlib
import pickle

import pytest
from django.core.files.base import ContentFile

from apps.audit.actions import Action
from apps.audit.models import AuditEntry
from apps.audit.services import SYSTEM
from apps.common.errors import (
    ChecksumMismatch,
    DuplicateKey,
    FileTooLarge,
    PermissionDenied,
    RefusedFileFormat,
    ValidationFailed,
)
from apps.registry import services
from apps.registry.models import (
    ClaimedMetric,
    LifecycleState,
    Model,
    ModelVersion,
    ModelVersionDataset,
    ModelVersionDeveloper,
)
from apps.registry.services import DatasetLink, MetricClaim
from tests.factories.accounts import UserFactory
from tests.factories.registry import DatasetVersionFactory, ModelFactory, ModelVersionFactory

from .conftest import _CreatesMarkerFile, register_version

pytestmark = pytest.mark.django_db


class UnreadableFile(ContentFile):
    """A file whose bytes must not be read."""

    def read(self, *args):
        raise AssertionError("the file was read")

    def chunks(self, *args):
        raise AssertionError("the file was read")


def last_entry() -> AuditEntry:
    return AuditEntry.objects.order_by("-index").first()


def assert_nothing_registered(media_files, audit_count, audit_before=0):
    assert ModelVersion.objects.count() == 0
    assert ModelVersionDataset.objects.count() == 0 and ClaimedMetric.objects.count() == 0
    assert ModelVersionDeveloper.objects.count() == 0
    assert media_files() == []
    assert audit_count() == audit_before


# --- model_create -------------------------------------------------------------------------------------


def test_model_create_stores_the_model_and_audits_it(submitter, use_case):
    model = services.model_create(actor=submitter, use_case=use_case, key="default-lr", name="Default LR")

    assert model.use_case == use_case and model.created_by == submitter
    entry = last_entry()
    assert entry.action == Action.REGISTRY_MODEL_CREATED
    assert (entry.subject_type, entry.subject_id) == ("registry.model", str(model.pk))
    assert entry.data == {"use_case": "credit-scoring", "key": "default-lr", "name": "Default LR", "description": ""}


def test_model_keys_are_unique_per_use_case_only(submitter, use_case, audit_count):
    services.model_create(actor=submitter, use_case=use_case, key="default-lr", name="Default LR")
    ModelFactory(key="default-lr")  # the same key in another use case is fine
    before = audit_count()

    with pytest.raises(DuplicateKey, match="already has a model with key 'default-lr'"):
        services.model_create(actor=submitter, use_case=use_case, key="default-lr", name="Again")
    assert Model.objects.filter(use_case=use_case).count() == 1 and audit_count() == before


def test_model_create_refuses_outsiders_and_auditors(outsider, auditor, use_case, audit_count):
    for actor in (outsider, auditor):
        with pytest.raises(PermissionDenied):
            services.model_create(actor=actor, use_case=use_case, key="x", name="X")
    assert Model.objects.count() == 0 and audit_count() == 0


# --- model_version_register: the happy paths ----------------------------------------------------------


def test_registering_a_skops_artifact_stores_it_under_its_hash_with_evidence_and_audits_it(
    submitter, model, skops_bytes
):
    train, test = DatasetVersionFactory(), DatasetVersionFactory()
    sha256 = hashlib.sha256(skops_bytes).hexdigest()

    version = register_version(
        actor=submitter, model=model, content=skops_bytes, name="../../etc/My Model.skops",
        declared_sha256=sha256.upper(),
        library_versions={"numpy": "2.1.0"},
        training_code_repository="https://git.example.com/risk/credit.git",
        training_code_commit="A1B2C3D",
        hyperparameters={"C": 0.5},
        features=["income", "debt_to_income"],
        datasets=[DatasetLink(train, "train"), DatasetLink(test, "test")],
        claimed_metrics=[MetricClaim("roc_auc", 0.81, test, higher_is_better=True, threshold_note=">= 0.75")],
    )

    assert version.number == 1
    assert (version.artifact_sha256, version.artifact_size, version.artifact_format) == (
        sha256, len(skops_bytes), "skops"
    )
    assert version.artifact.name == f"artifacts/{sha256}/My_Model.skops"
    with version.artifact.open("rb") as stored:
        assert hashlib.sha256(stored.read()).hexdigest() == sha256
    assert version.training_code_commit == "a1b2c3d"
    assert {(link.dataset_version_id, link.role) for link in version.dataset_links.all()} == {
        (train.pk, "train"), (test.pk, "test")
    }
    assert list(version.claimed_metrics.values_list("name", "value", "dataset_version")) == [("roc_auc", 0.81, test.pk)]
    entry = last_entry()
    assert entry.action == Action.REGISTRY_MODEL_VERSION_REGISTERED
    assert (entry.subject_type, entry.subject_id) == ("registry.modelversion", str(version.pk))
    assert entry.data["artifact"]["sha256"] == sha256 and entry.data["artifact"]["format"] == "skops"
    assert entry.data["number"] == 1 and entry.data["model"] == "default-lr"
    assert entry.data["datasets"][1] == {
        "dataset": test.dataset.key, "version": test.number, "content_sha256": test.content_sha256, "role": "test"
    }
    assert entry.data["claimed_metrics"][0]["value"] == "0.81"  # floats are strings in the log


def test_registering_an_onnx_artifact_detects_onnx_from_the_content_not_the_name(submitter, model, onnx_bytes):
    version = register_version(actor=submitter, model=model, content=onnx_bytes, name="weights.bin",
                               framework="onnx")
    assert version.artifact_format == "onnx"
    assert last_entry().data["artifact"]["ir_version"] == 8


def test_versions_are_numbered_per_model_and_a_correction_names_its_parent(submitter, model, skops_bytes):
    first = register_version(actor=submitter, model=model, content=skops_bytes)
    second = register_version(actor=submitter, model=model, content=skops_bytes, parent=first,
                              limitations="Corrected the claimed metrics.")
    other = register_version(actor=submitter, model=ModelFactory(use_case=model.use_case), content=skops_bytes)

    assert (first.number, second.number, other.number) == (1, 2, 1)
    assert second.parent == first and last_entry().data["parent"] is None
    assert AuditEntry.objects.get(subject_id=str(second.pk), subject_type="registry.modelversion").data["parent"] == 1


def test_a_service_account_with_submit_permission_may_register(service_user, model, skops_bytes):
    version = register_version(actor=service_user, model=model, content=skops_bytes)
    assert version.registered_by == service_user
    assert last_entry().actor_id == str(service_user.pk)


# --- model_version_register: developers ---------------------------------------------------------------


def developer_usernames(version) -> list[str]:
    return [link.user.username for link in version.developer_links.select_related("user").order_by("pk")]


def test_named_developers_are_stored_in_the_order_given_and_named_in_the_audit_entry(service_user, model,
                                                                                     skops_bytes):
    UserFactory(username="dee-developer")
    UserFactory(username="ann-analyst")

    version = register_version(actor=service_user, model=model, content=skops_bytes,
                               developers=["dee-developer", "ann-analyst"])

    assert developer_usernames(version) == ["dee-developer", "ann-analyst"]
    assert set(version.developers.values_list("username", flat=True)) == {"dee-developer", "ann-analyst"}
    assert version.registered_by == service_user  # who registered is kept apart from who developed
    entry = last_entry()
    assert entry.action == Action.REGISTRY_MODEL_VERSION_REGISTERED
    assert (entry.subject_type, entry.subject_id) == ("registry.modelversion", str(version.pk))
    assert entry.data["developers"] == ["dee-developer", "ann-analyst"]


def test_a_person_registering_without_naming_developers_is_the_developer(submitter, model, skops_bytes):
    version = register_version(actor=submitter, model=model, content=skops_bytes)
    assert developer_usernames(version) == ["sam-submitter"]
    assert last_entry().data["developers"] == ["sam-submitter"]


def test_a_person_naming_developers_is_not_added_to_them(submitter, model, skops_bytes):
    UserFactory(username="dee-developer")
    version = register_version(actor=submitter, model=model, content=skops_bytes, developers=["dee-developer"])
    assert developer_usernames(version) == ["dee-developer"]


@pytest.mark.parametrize("actor_name", ["service_user", "docket"])
def test_a_service_account_or_docket_registering_without_developers_records_none(request, actor_name, model,
                                                                                  skops_bytes):
    actor = SYSTEM if actor_name == "docket" else request.getfixturevalue(actor_name)
    version = register_version(actor=actor, model=model, content=skops_bytes)
    assert developer_usernames(version) == []
    assert last_entry().data["developers"] == []


def test_the_developers_are_looked_up_in_one_query_however_many_are_named(service_user, model, skops_bytes):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    names = [UserFactory(username=f"developer-{n}").username for n in range(12)]
    with CaptureQueriesContext(connection) as queries:
        version = register_version(actor=service_user, model=model, content=skops_bytes, developers=names)
    user_lookups = [query["sql"] for query in queries if 'FROM "accounts_user"' in query["sql"]]
    assert len(user_lookups) == 1 and '"accounts_user"."username" IN' in user_lookups[0]
    assert developer_usernames(version) == names


@pytest.fixture
def bad_developers(request):
    """The `developers` value of each bad input, with the users it needs."""
    UserFactory(username="dee-developer")
    UserFactory(username="ivy-inactive", is_active=False)
    from apps.accounts.models import User

    User.objects.create(username="svc.ci", kind=User.Kind.SERVICE)
    return {
        "unknown-username": (["dee-developer", "nobody-here"], "There is no user named 'nobody-here'."),
        "inactive-user": (["ivy-inactive"], "'ivy-inactive' is deactivated"),
        "service-account": (["svc.ci"], "'svc.ci' is a service account; developers are people."),
        "duplicate": (["dee-developer", "dee-developer"], "'dee-developer' is named twice"),
        "51-names": ([f"developer-{n}" for n in range(51)], "At most 50 developers may be named (got 51)."),
        "a-string-not-a-list": ("dee-developer", "developers must be a list of usernames (got str)."),
        "a-mapping-not-a-list": ({"dee-developer": True}, "developers must be a list of usernames (got dict)."),
        "a-number-in-the-list": (["dee-developer", 7], "developers[1] must be a username (got 7)."),
        "an-empty-name": ([""], "developers[0] must be a username (got '')."),
    }[request.param]


@pytest.mark.parametrize("bad_developers", [
    "unknown-username", "inactive-user", "service-account", "duplicate", "51-names", "a-string-not-a-list",
    "a-mapping-not-a-list", "a-number-in-the-list", "an-empty-name",
], indirect=True)
def test_bad_developers_are_refused_with_a_clear_error_and_nothing_is_registered(
    submitter, model, skops_bytes, media_files, audit_count, bad_developers
):
    """Tried: an unknown username (beside a good one), a deactivated person, a service account, the same
    username twice, 51 names, a string instead of a list, a mapping instead of a list, a number in the
    list, an empty name. Each is a ValidationFailed on `developers` that says what is wrong, and no
    version, link, file or audit entry is written."""
    value, message = bad_developers
    audit_before = audit_count()
    with pytest.raises(ValidationFailed) as refused:
        register_version(actor=submitter, model=model, content=skops_bytes, developers=value)
    assert list(refused.value.field_errors) == ["developers"]
    assert any(message in error for error in refused.value.field_errors["developers"]), refused.value.field_errors
    assert message in str(refused.value)
    assert_nothing_registered(media_files, audit_count, audit_before)


# --- model_version_register: refused artifacts --------------------------------------------------------


def test_the_marker_pickle_really_would_write_its_marker_when_unpickled(tmp_path):
    marker = tmp_path / "control-marker"
    pickle.loads(pickle.dumps(_CreatesMarkerFile(str(marker)), protocol=4))
    assert marker.exists()  # so the absence of the marker in the next test proves the pickle was not loaded


def test_a_pickle_is_refused_without_being_loaded(submitter, model, malicious_pickle_bytes, pickle_marker,
                                                  media_files, audit_count):
    with pytest.raises(RefusedFileFormat) as refused:
        register_version(actor=submitter, model=model, content=malicious_pickle_bytes, name="model.skops")

    assert "Python pickle (protocol 4)" in str(refused.value)
    assert "arbitrary code" in str(refused.value) and "skops.io.dump" in str(refused.value)
    assert not pickle_marker.exists()
    assert_nothing_registered(media_files, audit_count)


def test_a_compressed_joblib_file_is_refused(submitter, model, joblib_bytes, media_files, audit_count):
    with pytest.raises(RefusedFileFormat, match="compressed Python pickle, as joblib.dump"):
        register_version(actor=submitter, model=model, content=joblib_bytes, name="model.bin")
    assert_nothing_registered(media_files, audit_count)


def test_a_pickle_file_name_is_refused_even_if_the_content_is_not_a_pickle(submitter, model, skops_bytes,
                                                                          media_files, audit_count):
    with pytest.raises(RefusedFileFormat, match="'model.pkl', a pickle/joblib file name"):
        register_version(actor=submitter, model=model, content=skops_bytes, name="model.pkl")
    assert_nothing_registered(media_files, audit_count)


def test_a_random_binary_is_refused(submitter, model, random_binary_bytes, media_files, audit_count):
    with pytest.raises(RefusedFileFormat, match="skops files .* and ONNX models; this content is neither"):
        register_version(actor=submitter, model=model, content=random_binary_bytes, name="model.onnx")
    assert_nothing_registered(media_files, audit_count)


def test_a_bytes_starting_like_onnx_but_not_onnx_are_refused(submitter, model, media_files, audit_count):
    with pytest.raises(RefusedFileFormat, match="not a valid ONNX model"):
        register_version(actor=submitter, model=model, content=b"\x08\xff\xff\xff garbage", name="model.onnx")
    assert_nothing_registered(media_files, audit_count)


def test_a_skops_file_with_an_untrusted_type_is_refused_listing_the_type(submitter, model, untrusted_skops_bytes,
                                                                          media_files, audit_count, settings):
    with pytest.raises(RefusedFileFormat) as refused:
        register_version(actor=submitter, model=model, content=untrusted_skops_bytes)

    untrusted = refused.value.extra["untrusted_types"]
    assert any("system" in name for name in untrusted)
    assert all(name in str(refused.value) for name in untrusted)
    assert "DOCKET_SKOPS_TRUSTED_TYPES" in str(refused.value)
    assert_nothing_registered(media_files, audit_count)


def test_a_zip_that_is_not_a_skops_file_is_refused(submitter, model, media_files, audit_count, tmp_path):
    import zipfile

    path = tmp_path / "bundle.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data.pkl", pickle.dumps({"weights": [1, 2]}))
    with pytest.raises(RefusedFileFormat, match="PyTorch checkpoint"):
        register_version(actor=submitter, model=model, content=path.read_bytes(), name="model.pt")
    assert_nothing_registered(media_files, audit_count)


def test_an_artifact_over_the_size_limit_is_refused_before_reading(submitter, model, skops_bytes, settings,
                                                                   media_files, audit_count):
    settings.DOCKET_MAX_ARTIFACT_BYTES = 1000
    artifact = UnreadableFile(skops_bytes, name="model.skops")  # the size alone must decide

    with pytest.raises(FileTooLarge, match=f"is {len(skops_bytes)} bytes; the limit is 1000 bytes"):
        services.model_version_register(actor=submitter, model=model, artifact=artifact, framework="sklearn",
                                        intended_use="x")
    assert_nothing_registered(media_files, audit_count)


def test_a_declared_sha256_that_does_not_match_the_bytes_is_refused(submitter, model, skops_bytes,
                                                                    media_files, audit_count):
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(ChecksumMismatch) as refused:
        register_version(actor=submitter, model=model, content=skops_bytes, declared_sha256=wrong)

    assert refused.value.extra == {"declared": wrong, "computed": hashlib.sha256(skops_bytes).hexdigest()}
    assert "nothing was stored" in str(refused.value)
    assert_nothing_registered(media_files, audit_count)


def test_a_declared_sha256_that_is_not_hex_is_refused(submitter, model, skops_bytes, media_files, audit_count):
    with pytest.raises(ValidationFailed, match="not 64 hexadecimal digits"):
        register_version(actor=submitter, model=model, content=skops_bytes, declared_sha256="abc")
    assert_nothing_registered(media_files, audit_count)


# --- model_version_register: refused metadata ---------------------------------------------------------


def test_a_metric_measured_on_an_unlinked_dataset_version_is_refused(submitter, model, skops_bytes,
                                                                     media_files, audit_count):
    linked, unlinked = DatasetVersionFactory(), DatasetVersionFactory()
    with pytest.raises(ValidationFailed) as refused:
        register_version(actor=submitter, model=model, content=skops_bytes,
                         datasets=[DatasetLink(linked, "test")],
                         claimed_metrics=[MetricClaim("accuracy", 0.9, unlinked)])

    assert "claimed_metrics[0].dataset_version" in refused.value.field_errors
    assert "not linked to this model version" in str(refused.value)
    assert_nothing_registered(media_files, audit_count)


def test_a_parent_from_another_model_is_refused(submitter, model, skops_bytes, media_files, audit_count):
    foreign_parent = ModelVersionFactory(model=ModelFactory(use_case=model.use_case))
    stored_before = media_files()
    audit_before = audit_count()

    with pytest.raises(ValidationFailed, match="belongs to another model"):
        register_version(actor=submitter, model=model, content=skops_bytes, parent=foreign_parent)
    assert ModelVersion.objects.filter(model=model).count() == 0
    assert media_files() == stored_before and audit_count() == audit_before


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"training_code_commit": "xyz123", "training_code_repository": "https://git.example.com/r.git"},
         "training_code_commit"),
        ({"training_code_commit": "abcdef1"}, "training_code_commit"),
        ({"training_code_repository": "not a url"}, "training_code_repository"),
        ({"framework": ""}, "framework"),
        ({"intended_use": " "}, "intended_use"),
        ({"library_versions": {"numpy": 2}}, "library_versions"),
        ({"hyperparameters": {"C": float("nan")}}, "hyperparameters"),
        ({"features": ["age", "age"]}, "features"),
        ({"claimed_metrics": [MetricClaim("auc", float("inf"), None)]}, "claimed_metrics[0].value"),
    ],
    ids=["commit-not-hex", "commit-without-repository", "repository-not-url", "no-framework", "no-intended-use",
         "library-version-not-text", "nan-hyperparameter", "repeated-feature", "infinite-metric"],
)
def test_model_version_register_refuses_bad_metadata_and_changes_nothing(submitter, model, skops_bytes,
                                                                         media_files, audit_count, overrides, field):
    with pytest.raises(ValidationFailed) as refused:
        register_version(actor=submitter, model=model, content=skops_bytes, **overrides)
    assert field in refused.value.field_errors
    assert_nothing_registered(media_files, audit_count)


def test_a_deleted_dataset_version_cannot_be_linked(submitter, model, skops_bytes, media_files, audit_count):
    deleted = DatasetVersionFactory(lifecycle_state=LifecycleState.DELETED)
    with pytest.raises(ValidationFailed, match="is deleted"):
        register_version(actor=submitter, model=model, content=skops_bytes, datasets=[DatasetLink(deleted, "train")])
    assert_nothing_registered(media_files, audit_count)


# --- model_version_register: permissions --------------------------------------------------------------


def test_model_version_register_refuses_a_submitter_without_permission_on_the_use_case(
    outsider, model, skops_bytes, media_files, audit_count
):
    with pytest.raises(PermissionDenied, match="permission to submit to use case 'credit-scoring'"):
        register_version(actor=outsider, model=model, content=skops_bytes)
    assert_nothing_registered(media_files, audit_count)


def test_model_version_register_refuses_an_auditor_even_with_the_permission(auditor, model, skops_bytes,
                                                                            media_files, audit_count):
    from guardian.shortcuts import assign_perm

    assign_perm("registry.submit_to_usecase", auditor, model.use_case)
    with pytest.raises(PermissionDenied, match="Auditors read the registry"):
        register_version(actor=auditor, model=model, content=skops_bytes)
    assert_nothing_registered(media_files, audit_count)


def test_model_version_register_refuses_a_deactivated_service_account(service_user, model, skops_bytes,
                                                                      media_files, audit_count):
    service_user.is_active = False
    service_user.save()
    with pytest.raises(PermissionDenied):
        register_version(actor=service_user, model=model, content=skops_bytes)
    assert_nothing_registered(media_files, audit_count)


# --- files are not left behind ------------------------------------------------------------------------


def test_a_failure_after_the_file_was_stored_removes_the_file_and_rolls_back(submitter, model, skops_bytes,
                                                                              media_files, audit_count, monkeypatch):
    def audit_writer_fails(**kwargs):
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(services, "record", audit_writer_fails)
    with pytest.raises(RuntimeError, match="audit log unavailable"):
        register_version(actor=submitter, model=model, content=skops_bytes)
    assert_nothing_registered(media_files, audit_count)
