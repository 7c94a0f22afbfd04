"""dataset_create, dataset_version_register and dataset_version_change_lifecycle."""

import datetime as dt
import hashlib
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.utils import timezone

from apps.audit.actions import Action
from apps.audit.models import AuditEntry
from apps.common.errors import (
    ChecksumMismatch,
    Conflict,
    DuplicateKey,
    FileTooLarge,
    ImmutableRecord,
    PermissionDenied,
    RefusedFileFormat,
    ValidationFailed,
)
from apps.lineage.models import Edge, EdgeKind
from apps.registry import services
from apps.registry.models import (
    Dataset,
    DatasetVersion,
    DatasetVersionSource,
    ModelVersionDataset,
    evidence_window,
)
from tests.factories.accounts import ServiceAccountFactory, TeamFactory
from tests.factories.registry import DatasetFactory, DatasetVersionFactory, ModelVersionFactory

from .conftest import upload

pytestmark = pytest.mark.django_db

CSV = b"applicant_id,sex,age_band,income,approved,applied_on\n1,F,26-35,41000.50,true,2024-01-03\n2,M,51-65,38000,false,2024-01-04\n3,F,18-25,,true,2024-02-01\n"
CSV_SCHEMA = [
    {"name": "applicant_id", "type": "integer"}, {"name": "sex", "type": "string"},
    {"name": "age_band", "type": "string"}, {"name": "income", "type": "float"},
    {"name": "approved", "type": "boolean"}, {"name": "applied_on", "type": "date"},
]
DECLARED = {
    "content_sha256": hashlib.sha256(b"rows held in the warehouse").hexdigest(),
    "row_count": 5000,
    "schema": [{"name": "age", "type": "integer"}, {"name": "sex", "type": "string"}],
}


@pytest.fixture
def dataset(team):
    return DatasetFactory(key="credit-applications", owner_team=team)


def parquet_bytes() -> bytes:
    table = pa.table({"age": pa.array([31, 45], pa.int64()), "sex": ["F", "M"], "score": [0.2, 0.7],
                      "when": pa.array([dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2)], pa.timestamp("us"))})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def last_entry() -> AuditEntry:
    return AuditEntry.objects.order_by("-index").first()


def assert_nothing_registered(media_files, audit_count, audit_before=0):
    assert DatasetVersion.objects.count() == 0
    assert media_files() == []
    assert audit_count() == audit_before


# --- dataset_create -----------------------------------------------------------------------------------


def test_dataset_create_stores_the_dataset_and_audits_it(submitter, team):
    dataset = services.dataset_create(actor=submitter, key="loans", name="Loans", owner_team=team,
                                      source_system="core-banking")
    entry = last_entry()
    assert entry.action == Action.REGISTRY_DATASET_CREATED
    assert (entry.subject_type, entry.subject_id) == ("registry.dataset", str(dataset.pk))
    assert entry.data["owner_team"] == "credit-risk" and entry.data["source_system"] == "core-banking"


def test_dataset_create_refuses_a_duplicate_key(submitter, team, audit_count):
    DatasetFactory(key="loans")
    with pytest.raises(DuplicateKey, match="'loans' already exists"):
        services.dataset_create(actor=submitter, key="loans", name="Loans", owner_team=team)
    assert Dataset.objects.count() == 1 and audit_count() == 0


def test_dataset_create_refuses_other_teams_and_auditors(outsider, auditor, team, audit_count):
    for actor in (outsider, auditor):
        with pytest.raises(PermissionDenied):
            services.dataset_create(actor=actor, key="loans", name="Loans", owner_team=team)
    assert Dataset.objects.count() == 0 and audit_count() == 0


def test_a_teams_service_account_creates_datasets_for_its_team_only(team, audit_count):
    pipeline = ServiceAccountFactory(name="training-pipeline", team=team)
    other_pipeline = ServiceAccountFactory(name="other-pipeline", team=TeamFactory(key="talent"))

    dataset = services.dataset_create(actor=pipeline.user, key="loans", name="Loans", owner_team=team)
    entry = last_entry()
    assert (entry.action, entry.subject_id) == (Action.REGISTRY_DATASET_CREATED, str(dataset.pk))
    assert (entry.actor_type, entry.actor_name) == ("service_account", "training-pipeline")

    before = audit_count()
    with pytest.raises(PermissionDenied, match="submitters in team 'credit-risk'"):
        services.dataset_create(actor=other_pipeline.user, key="loans-2", name="Loans", owner_team=team)
    assert Dataset.objects.count() == 1 and audit_count() == before


# --- dataset_version_register -------------------------------------------------------------------------


def test_a_csv_file_gives_hash_schema_and_row_count_and_the_version_is_audited(submitter, dataset):
    retention = timezone.localdate() + dt.timedelta(days=365)
    version = services.dataset_version_register(
        actor=submitter, dataset=dataset, file=upload(CSV, "applications.csv"),
        contains_personal_data=True, contains_special_category_data=True,
        special_category_justification="Ethnicity is needed to detect bias (Art. 10(5)); deleted after.",
        protected_attributes=["sex", "age_band"], legal_basis="f", retention_until=retention,
        datasheet={"bias_examination": "Approval rates compared by sex.", "motivation": "Credit model."},
    )

    sha256 = hashlib.sha256(CSV).hexdigest()
    assert (version.number, version.content_sha256, version.row_count) == (1, sha256, 3)
    assert version.schema == CSV_SCHEMA and version.file_format == "csv"
    assert version.file.name == f"datasets/{sha256}/applications.csv"
    assert version.bias_examination == "Approval rates compared by sex."
    entry = last_entry()
    assert entry.action == Action.REGISTRY_DATASET_VERSION_REGISTERED
    assert (entry.subject_type, entry.subject_id) == ("registry.datasetversion", str(version.pk))
    assert entry.data["content_sha256"] == sha256 and entry.data["row_count"] == 3
    assert entry.data["protected_attributes"] == ["sex", "age_band"]
    assert entry.data["retention_until"] == retention.isoformat()
    assert entry.data["datasheet"] == {"bias_examination": "Approval rates compared by sex.",
                                       "motivation": "Credit model."}


def test_a_parquet_file_is_read_with_pyarrow(submitter, dataset):
    version = services.dataset_version_register(actor=submitter, dataset=dataset, file=upload(parquet_bytes(), "x"),
                                                protected_attributes=["sex"])
    assert version.file_format == "parquet" and version.row_count == 2
    assert version.schema == [{"name": "age", "type": "integer"}, {"name": "sex", "type": "string"},
                              {"name": "score", "type": "float"}, {"name": "when", "type": "datetime"}]


def test_without_a_file_the_declared_facts_are_recorded_and_versions_count_up(submitter, dataset):
    first = services.dataset_version_register(actor=submitter, dataset=dataset, **DECLARED)
    second = services.dataset_version_register(actor=submitter, dataset=dataset,
                                               **{**DECLARED, "content_sha256": "A" * 64})
    assert (first.number, second.number) == (1, 2)
    assert first.file.name in ("", None) and first.row_count == 5000
    assert second.content_sha256 == "a" * 64


def test_declared_values_that_agree_with_the_file_are_accepted(submitter, dataset):
    version = services.dataset_version_register(
        actor=submitter, dataset=dataset, file=upload(CSV, "a.csv"), content_sha256=hashlib.sha256(CSV).hexdigest(),
        row_count=3, schema=CSV_SCHEMA,
    )
    assert version.row_count == 3


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"retention_until": dt.date(2020, 1, 1)}, "retention_until", "is in the past"),
        ({"protected_attributes": ["ethnicity"]}, "protected_attributes", "not columns: ethnicity"),
        ({"contains_special_category_data": True, "contains_personal_data": True, "legal_basis": "a",
          "retention_until": dt.date(2099, 1, 1)}, "special_category_justification", "Art. 10(5)"),
        ({"contains_personal_data": True, "retention_until": dt.date(2099, 1, 1)}, "legal_basis",
         "legal_basis is required"),
        ({"contains_personal_data": True, "legal_basis": "f"}, "retention_until", "needs a retention date"),
        ({"contains_special_category_data": True, "special_category_justification": "Bias."},
         "contains_special_category_data", "set contains_personal_data too"),
        ({"legal_basis": "g"}, "legal_basis", "'g' is not one of"),
        ({"schema": [{"name": "age", "type": "varchar"}]}, "schema", "type 'varchar'"),
        ({"content_sha256": None}, "content_sha256", "Give the content SHA-256"),
        ({"row_count": -1}, "row_count", "0 or more"),
        ({"datasheet": {"secret_sauce": "x"}}, "datasheet", "Unknown datasheet fields: secret_sauce"),
    ],
    ids=["retention-in-the-past", "protected-attribute-not-in-schema", "special-category-without-justification",
         "personal-data-without-legal-basis", "personal-data-without-retention", "special-without-personal",
         "unknown-legal-basis", "unknown-column-type", "no-hash-and-no-file", "negative-row-count",
         "unknown-datasheet-field"],
)
def test_dataset_version_register_refuses_bad_input_and_changes_nothing(submitter, dataset, media_files,
                                                                        audit_count, overrides, field, message):
    with pytest.raises(ValidationFailed) as refused:
        services.dataset_version_register(actor=submitter, dataset=dataset, **{**DECLARED, **overrides})
    assert field in refused.value.field_errors
    assert message in str(refused.value)
    assert_nothing_registered(media_files, audit_count)


def test_a_protected_attribute_not_in_the_files_columns_is_refused(submitter, dataset, media_files, audit_count):
    with pytest.raises(ValidationFailed, match="not columns: race"):
        services.dataset_version_register(actor=submitter, dataset=dataset, file=upload(CSV, "a.csv"),
                                          protected_attributes=["sex", "race"])
    assert_nothing_registered(media_files, audit_count)


def test_declared_row_count_or_schema_that_disagree_with_the_file_are_refused(submitter, dataset, media_files,
                                                                              audit_count):
    with pytest.raises(ValidationFailed) as refused:
        services.dataset_version_register(actor=submitter, dataset=dataset, file=upload(CSV, "a.csv"),
                                          row_count=4, schema=CSV_SCHEMA[:2])
    assert set(refused.value.field_errors) == {"row_count", "schema"}
    assert "differs from the file's 3 rows" in str(refused.value)
    assert_nothing_registered(media_files, audit_count)


def test_a_declared_sha256_that_does_not_match_the_file_is_refused(submitter, dataset, media_files, audit_count):
    with pytest.raises(ChecksumMismatch, match="does not match the bytes received"):
        services.dataset_version_register(actor=submitter, dataset=dataset, file=upload(CSV, "a.csv"),
                                          content_sha256=hashlib.sha256(CSV + b"4,F,x,1,true,2024-01-01\n").hexdigest())
    assert_nothing_registered(media_files, audit_count)


def test_a_dataset_file_over_the_size_limit_is_refused(submitter, dataset, media_files, audit_count, settings):
    settings.DOCKET_MAX_DATASET_FILE_BYTES = 100
    with pytest.raises(FileTooLarge, match=f"is {len(CSV)} bytes; the limit is 100 bytes"):
        services.dataset_version_register(actor=submitter, dataset=dataset, file=upload(CSV, "a.csv"))
    assert_nothing_registered(media_files, audit_count)


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"\x80\x04\x95\x00\x00", "frame.csv", "Python pickle"),
        (b"\xff\xfe\x00\x01binary\x00", "data.csv", "NUL bytes"),
        (b"a,b\n1,2\n3\n", "data.csv", "line 3 has 1 fields where the header has 2"),
        ("naïve,b\n1,2\n".encode("latin-1"), "data.csv", "not UTF-8"),
        (b"a,a\n1,2\n", "data.csv", "column names repeat"),
        (b"PAR1 not really parquet", "data.parquet", "starts like Parquet but cannot be read"),
    ],
    ids=["pickle", "binary", "ragged-csv", "not-utf8", "repeated-columns", "broken-parquet"],
)
def test_dataset_files_that_are_neither_csv_nor_parquet_are_refused(submitter, dataset, media_files, audit_count,
                                                                     content, name, message):
    with pytest.raises(RefusedFileFormat, match=message):
        services.dataset_version_register(actor=submitter, dataset=dataset, file=upload(content, name))
    assert_nothing_registered(media_files, audit_count)


def test_dataset_version_register_refuses_other_teams_and_auditors(outsider, auditor, dataset, audit_count):
    for actor in (outsider, auditor):
        with pytest.raises(PermissionDenied):
            services.dataset_version_register(actor=actor, dataset=dataset, **DECLARED)
    assert DatasetVersion.objects.count() == 0 and audit_count() == 0


def test_a_registered_dataset_version_is_immutable_apart_from_its_lifecycle(submitter, dataset):
    version = services.dataset_version_register(actor=submitter, dataset=dataset, **DECLARED)
    version.row_count = 1
    with pytest.raises(ImmutableRecord, match="row_count cannot change"):
        version.save()
    with pytest.raises(ImmutableRecord):
        DatasetVersion.objects.filter(pk=version.pk).update(row_count=1)
    with pytest.raises(ImmutableRecord):
        version.delete()
    assert DatasetVersion.objects.get(pk=version.pk).row_count == 5000


# --- dataset_version_change_lifecycle -----------------------------------------------------------------


def test_pseudonymising_then_deleting_removes_the_file_on_commit_and_keeps_the_record(
    submitter, dataset, media_files, django_capture_on_commit_callbacks
):
    version = services.dataset_version_register(actor=submitter, dataset=dataset, file=upload(CSV, "a.csv"))
    stored = version.file.name
    services.dataset_version_change_lifecycle(actor=submitter, dataset_version=version, state="pseudonymised",
                                              reason="Names replaced by tokens.")
    assert media_files() == [stored]

    with django_capture_on_commit_callbacks(execute=True):
        services.dataset_version_change_lifecycle(actor=submitter, dataset_version=version, state="deleted",
                                                  reason="Retention period ended.")

    version.refresh_from_db()
    assert version.lifecycle_state == "deleted" and not version.file
    assert version.content_sha256 == hashlib.sha256(CSV).hexdigest()
    assert media_files() == []
    entry = last_entry()
    assert entry.action == Action.REGISTRY_DATASET_VERSION_LIFECYCLE_CHANGED
    assert (entry.subject_type, entry.subject_id) == ("registry.datasetversion", str(version.pk))
    assert entry.data["before"] == "pseudonymised" and entry.data["after"] == "deleted"
    assert entry.data["removed_file"] == stored and entry.data["reason"] == "Retention period ended."


def test_a_deleted_dataset_version_cannot_change_state_again(submitter, dataset, audit_count):
    version = services.dataset_version_register(actor=submitter, dataset=dataset, **DECLARED)
    services.dataset_version_change_lifecycle(actor=submitter, dataset_version=version, state="deleted", reason="Gone.")
    before = audit_count()
    for state in ("active", "pseudonymised", "deleted"):
        with pytest.raises(Conflict, match="is deleted; it cannot become"):
            services.dataset_version_change_lifecycle(actor=submitter, dataset_version=version, state=state,
                                                      reason="Again.")
    assert audit_count() == before


def test_lifecycle_change_refuses_unknown_states_missing_reasons_and_outsiders(submitter, outsider, auditor,
                                                                               dataset, audit_count):
    version = services.dataset_version_register(actor=submitter, dataset=dataset, **DECLARED)
    before = audit_count()
    with pytest.raises(ValidationFailed, match="'archived' is not one of"):
        services.dataset_version_change_lifecycle(actor=submitter, dataset_version=version, state="archived",
                                                  reason="x")
    with pytest.raises(ValidationFailed, match="reason is required"):
        services.dataset_version_change_lifecycle(actor=submitter, dataset_version=version, state="deleted", reason="")
    for actor in (outsider, auditor):
        with pytest.raises(PermissionDenied):
            services.dataset_version_change_lifecycle(actor=actor, dataset_version=version, state="deleted",
                                                      reason="x")
    version.refresh_from_db()
    assert version.lifecycle_state == "active" and audit_count() == before


# --- derived_from: the dataset versions a version was derived from ------------------------------------


def register_declared(actor, dataset, **kwargs) -> DatasetVersion:
    return services.dataset_version_register(actor=actor, dataset=dataset, **DECLARED, **kwargs)


def test_sources_are_stored_in_order_with_a_derived_from_edge_each_and_audited(submitter, dataset, team):
    raw = register_declared(submitter, DatasetFactory(key="raw-applications", owner_team=team))
    bureau = register_declared(submitter, DatasetFactory(key="bureau-scores", owner_team=team))
    derived = register_declared(submitter, dataset, derived_from=[raw, bureau])

    assert [link.source for link in derived.source_links.order_by("pk")] == [raw, bureau]
    assert set(raw.derivatives.all()) == {derived}
    edges = Edge.objects.filter(kind=EdgeKind.DERIVED_FROM).select_related("source_node", "target_node")
    assert {(edge.source_node.dataset_version, edge.target_node.dataset_version) for edge in edges} == {
        (raw, derived), (bureau, derived)}
    assert {edge.valid_from for edge in edges} == {derived.registered_at}
    assert all(edge.valid_to is None for edge in edges)
    entry = last_entry()
    assert (entry.action, entry.subject_id) == (Action.REGISTRY_DATASET_VERSION_REGISTERED, str(derived.pk))
    assert entry.data["derived_from"] == [
        {"dataset": "raw-applications", "version": 1, "content_sha256": raw.content_sha256},
        {"dataset": "bureau-scores", "version": 1, "content_sha256": bureau.content_sha256},
    ]


def test_a_version_may_derive_from_an_earlier_version_of_its_own_dataset(submitter, dataset):
    first = register_declared(submitter, dataset)
    second = register_declared(submitter, dataset, derived_from=[first])
    assert list(second.derived_from.all()) == [first]
    assert last_entry().data["derived_from"][0]["version"] == 1


def test_without_sources_the_version_derives_from_nothing_and_the_audit_says_so(submitter, dataset):
    version = register_declared(submitter, dataset)
    assert not version.derived_from.exists()
    assert last_entry().data["derived_from"] == []


def test_a_visible_version_of_another_teams_dataset_may_be_a_source(submitter, dataset, other_team, model):
    """Another team's dataset is visible to the submitter once a model version of their use case used it."""
    shared = DatasetVersionFactory(dataset=DatasetFactory(key="shared-bureau", owner_team=other_team))
    user_of_it = ModelVersionFactory(model=model)
    with evidence_window(user_of_it):
        ModelVersionDataset(model_version=user_of_it, dataset_version=shared, role="train").save()
    derived = register_declared(submitter, dataset, derived_from=[shared])
    assert list(derived.derived_from.all()) == [shared]


def test_dataset_version_register_refuses_bad_sources_and_changes_nothing(submitter, dataset, other_team, team,
                                                                           media_files, audit_count):
    """Refused on derived_from, each with nothing registered, no source row, no edge and no audit entry:
    - an unknown (unsaved) dataset version;
    - a version of another team's dataset the submitter may not see;
    - the same source named twice;
    - 51 sources (more than MAX_DATASET_SOURCES);
    - a value that is not a list (a single version, a string, a mapping);
    - an item that is not a dataset version (a "key@n" reference string, a number).
    """
    source = DatasetVersionFactory(dataset=DatasetFactory(key="raw", owner_team=team))
    hidden = DatasetVersionFactory(dataset=DatasetFactory(key="hr-records", owner_team=other_team))
    many = [DatasetVersionFactory(dataset=source.dataset) for _ in range(51)]
    cases = [
        ([DatasetVersion(dataset=source.dataset, number=99, content_sha256="0" * 64, row_count=1)],
         "must be a registered dataset version"),
        ([hidden], "no such dataset version that you may see"),
        ([source, source], "is named twice in derived_from"),
        (many, "At most 50 source dataset versions may be named (got 51)"),
        (source, "derived_from must be a list of dataset versions (got DatasetVersion)"),
        ("raw@1", "derived_from must be a list of dataset versions (got str)"),
        ({"dataset": "raw", "version": 1}, "derived_from must be a list of dataset versions (got dict)"),
        (["raw@1"], "derived_from[0] must be a registered dataset version (got 'raw@1')"),
        ([source, 7], "derived_from[1] must be a registered dataset version (got 7)"),
    ]
    versions_before = DatasetVersion.objects.count()
    audit_before = audit_count()
    for derived_from, message in cases:
        with pytest.raises(ValidationFailed) as refused:
            register_declared(submitter, dataset, derived_from=derived_from)
        assert set(refused.value.field_errors) == {"derived_from"}, derived_from
        assert message in " ".join(refused.value.field_errors["derived_from"]), refused.value.field_errors
        assert message in str(refused.value)
    assert DatasetVersion.objects.count() == versions_before
    assert not DatasetVersionSource.objects.exists()
    assert not Edge.objects.exists()
    assert audit_count() == audit_before
    assert media_files() == []

