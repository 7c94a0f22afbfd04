"""The openlineage-python client's HTTP transport, configured as a pipeline would, against a live Docket."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from apps.accounts.scopes import Scope
from apps.audit.actions import Action
from apps.audit.models import AuditEntry
from apps.lineage.models import Edge, EdgeKind, OpenLineageEvent

openlineage = pytest.importorskip("openlineage.client")


def _client(url: str, key: str, compression: str | None = None):
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.http import (
        ApiKeyTokenProvider,
        HttpCompression,
        HttpConfig,
        HttpTransport,
    )

    # As a pipeline configures it: OPENLINEAGE_URL=<docket>, api_key auth; the path defaults to api/v1/lineage.
    config = HttpConfig(url=url, auth=ApiKeyTokenProvider({"apiKey": key}), timeout=10,
                        compression=HttpCompression(compression) if compression else None)
    return OpenLineageClient(transport=HttpTransport(config))


def _event(run_id: str, event_type):
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent

    return RunEvent(eventType=event_type, eventTime=timezone.now().isoformat(), run=Run(runId=run_id),
                    job=Job(namespace="airflow", name="credit.build_features"),
                    producer="https://example.com/pipelines/credit",
                    inputs=[InputDataset(namespace="postgres://warehouse:5432", name="public.loans")],
                    outputs=[OutputDataset(namespace="s3://features", name="credit/features.parquet")])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("compression", [None, "gzip"])
def test_the_openlineage_http_transport_delivers_events(live_server, make_key, compression):
    from openlineage.client.event_v2 import RunState

    _, key = make_key(scopes=[Scope.LINEAGE_WRITE])
    client = _client(live_server.url, key, compression)
    run_id = str(uuid.uuid4())
    client.emit(_event(run_id, RunState.START))
    client.emit(_event(run_id, RunState.COMPLETE))
    assert OpenLineageEvent.objects.filter(run_id=run_id).count() == 2
    assert Edge.objects.filter(kind=EdgeKind.PRODUCED_BY, source_node__key=run_id).count() == 1
    assert AuditEntry.objects.filter(action=Action.LINEAGE_EVENT_INGESTED).count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_transport_raises_when_the_key_lacks_the_scope(live_server, make_key):
    import requests
    from openlineage.client.event_v2 import RunState

    _, key = make_key(scopes=[Scope.READ])
    with pytest.raises(requests.HTTPError):
        _client(live_server.url, key).emit(_event(str(uuid.uuid4()), RunState.START))
    assert not OpenLineageEvent.objects.exists()
