"""A small client for Docket's REST API, for training scripts and pipelines.

    from docket.client import DocketClient

    docket = DocketClient.from_environment()          # DOCKET_URL / DOCKET_API_KEY or `docket login`'s file
    docket.register_dataset_version("loans", file="train.csv")
    docket.register_model_version(
        "credit-scoring", "default-lr", artifact="model.skops", framework="scikit-learn",
        intended_use="Scoring consumer loan applications.",
        datasets=[("train", "loans", 1), ("test", "loans", 2)],
        metrics=[("auc", 0.91, "test")], developers=["dee.developer"],
    )

Every refusal raises DocketError carrying the server's problem+json (`status`, `type`, `detail`,
`errors`). Network failures raise DocketConnectionError. Artifacts are hashed locally (SHA-256, read in
chunks) and streamed to the server, which checks the hash against the bytes it received.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

CONFIG_ENVIRONMENT_VARIABLE = "DOCKET_CONFIG"
DEFAULT_TIMEOUT_SECONDS = 60.0
CHUNK_SIZE = 1024 * 1024
API_PREFIX = "/api/v1"


class DocketError(Exception):
    """Docket refused the request. `problem` is the RFC 9457 body; `status` the HTTP status."""

    def __init__(self, status: int, problem: dict[str, Any]):
        self.status = status
        self.problem = problem
        self.type = problem.get("type", "")
        self.detail = problem.get("detail") or problem.get("title") or f"HTTP {status}"
        self.errors = problem.get("errors") or {}
        super().__init__(self.detail)

    @property
    def kind(self) -> str:
        """The last part of the problem type URI, e.g. "checksum-mismatch"."""
        return self.type.rstrip("/").rsplit("/", 1)[-1]


class DocketConnectionError(DocketError):
    """Docket could not be reached (or answered with something that is not Docket's API)."""

    def __init__(self, message: str):
        super().__init__(0, {"type": "about:blank", "title": "Connection error", "detail": message})


class DocketConfigurationError(Exception):
    """No Docket URL or API key is configured."""


def config_path() -> Path:
    """Where `docket login` keeps the URL and key: $DOCKET_CONFIG, else ~/.config/docket/config.json."""
    configured = os.environ.get(CONFIG_ENVIRONMENT_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "docket" / "config.json"


def write_config(url: str, api_key: str, path: Path | None = None) -> Path:
    """Writes the URL and key to the config file, readable and writable by the owner only (0600)."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump({"url": url, "api_key": api_key}, handle, indent=2)
        handle.write("\n")
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)  # also when the file existed with wider permissions
    return path


def read_config(path: Path | None = None) -> dict[str, str]:
    path = path or config_path()
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DocketConfigurationError(f"The config file {path} is not valid JSON: {exc}") from exc


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


class DocketClient:
    """One Docket server, one API key."""

    def __init__(self, url: str, api_key: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS,
                 transport: httpx.BaseTransport | None = None):
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json",
                     "User-Agent": "docket-python"},
            timeout=timeout,
            transport=transport,
        )

    @classmethod
    def from_environment(cls, **kwargs) -> DocketClient:
        """DOCKET_URL and DOCKET_API_KEY, each falling back to the config file `docket login` wrote."""
        stored = read_config()
        url = os.environ.get("DOCKET_URL") or stored.get("url")
        api_key = os.environ.get("DOCKET_API_KEY") or stored.get("api_key")
        if not url or not api_key:
            raise DocketConfigurationError(
                "No Docket server configured: set DOCKET_URL and DOCKET_API_KEY, or run `docket login`."
            )
        return cls(url, api_key, **kwargs)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> DocketClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- transport ----------------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs) -> Any:
        """Sends one request; returns the decoded JSON body, or raises DocketError."""
        url = path if path.startswith("http") else (path if path.startswith("/api/") else API_PREFIX + path)
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise DocketConnectionError(f"Cannot reach Docket at {self.url}: {exc}") from exc
        content_type = response.headers.get("content-type", "")
        try:
            body = response.json() if response.content else {}
        except ValueError:
            if response.is_success:
                raise DocketConnectionError(
                    f"{self.url} answered {method} {url} with {content_type or 'no content type'}, not JSON; "
                    "is DOCKET_URL the Docket server?"
                ) from None
            body = {"title": response.reason_phrase, "detail": response.text[:500]}
        if response.is_error:
            raise DocketError(response.status_code, body if isinstance(body, dict) else {"detail": str(body)})
        return body

    def paginate(self, path: str, params: dict | None = None, *, limit: int | None = None) -> Iterator[dict]:
        """Yields every result of a list endpoint, following the cursor from page to page."""
        params = {key: value for key, value in (params or {}).items() if value is not None}
        page = self.request("GET", path, params=params)
        seen = 0
        while True:
            for item in page.get("results", []):
                yield item
                seen += 1
                if limit is not None and seen >= limit:
                    return
            if not page.get("next"):
                return
            page = self.request("GET", page["next"])

    # --- who am I -----------------------------------------------------------------------------------

    def me(self) -> dict:
        return self.request("GET", "/me/")

    # --- use cases and models -----------------------------------------------------------------------

    def list_use_cases(self, **filters) -> list[dict]:
        return list(self.paginate("/use-cases/", filters))

    def get_use_case(self, key: str) -> dict:
        return self.request("GET", f"/use-cases/{key}/")

    def list_models(self, use_case: str | None = None) -> list[dict]:
        return list(self.paginate("/models/", {"use_case": use_case}))

    def get_model(self, use_case: str, model: str) -> dict:
        return self.request("GET", f"/use-cases/{use_case}/models/{model}/")

    def create_model(self, use_case: str, key: str, name: str, description: str = "") -> dict:
        return self.request("POST", f"/use-cases/{use_case}/models/",
                            json={"key": key, "name": name, "description": description})

    # --- model versions -----------------------------------------------------------------------------

    def list_model_versions(self, *, limit: int | None = None, **filters) -> list[dict]:
        """Filters: use_case, model, artifact_sha256, artifact_format, framework, registered_after/before."""
        return list(self.paginate("/model-versions/", filters, limit=limit))

    def get_model_version(self, use_case: str, model: str, number: int) -> dict:
        return self.request("GET", f"/use-cases/{use_case}/models/{model}/versions/{number}/")

    def register_model_version(
        self,
        use_case: str,
        model: str,
        *,
        artifact: str | os.PathLike,
        framework: str,
        intended_use: str,
        datasets: Iterable[tuple[str, str, int]] = (),
        metrics: Iterable[tuple] = (),
        parent: int | None = None,
        developers: Iterable[str] | None = None,
        **fields: Any,
    ) -> dict:
        """Registers the next version of a model from an artifact file (skops or ONNX).

        `datasets` are (role, dataset key, version number); `metrics` are (name, value, role) — the
        metric was measured on the dataset linked with that role — or (name, value, dataset key,
        version). `developers` are the usernames of the people who developed the version; without
        them Docket records the caller if it is a person, and nobody for a service account's key.
        Other keyword arguments (framework_version, hyperparameters, features,
        training_code_repository, training_code_commit, library_versions, limitations,
        out_of_scope_uses) are passed as they are.
        """
        links = [{"dataset": key, "version": int(number), "role": role} for role, key, number in datasets]
        claims = [self._metric(metric, links) for metric in metrics]
        form: dict[str, str] = {
            "declared_sha256": file_sha256(artifact),
            "framework": framework,
            "intended_use": intended_use,
            "datasets": json.dumps(links),
            "claimed_metrics": json.dumps(claims),
        }
        if parent is not None:
            form["parent"] = str(parent)
        if developers is not None:
            if isinstance(developers, str):
                raise ValueError(f"developers is a list of usernames, not the text {developers!r}.")
            form["developers"] = json.dumps(list(developers))
        for name, value in fields.items():
            if value is None:
                continue
            form[name] = json.dumps(value) if isinstance(value, (dict, list, tuple)) else str(value)
        with open(artifact, "rb") as handle:
            return self.request(
                "POST", f"/use-cases/{use_case}/models/{model}/versions/", data=form,
                files={"artifact": (Path(artifact).name, handle, "application/octet-stream")},
            )

    @staticmethod
    def _metric(metric: Sequence, links: list[dict]) -> dict:
        if len(metric) == 4:
            name, value, dataset, version = metric
            return {"name": name, "value": float(value), "dataset": dataset, "version": int(version)}
        name, value, role = metric
        matching = [link for link in links if link["role"] == role]
        if len(matching) != 1:
            raise ValueError(
                f"Metric {name!r} is measured on the {role!r} dataset, but {len(matching)} datasets have that role; "
                "give (name, value, dataset key, version) instead."
            )
        return {"name": name, "value": float(value), "dataset": matching[0]["dataset"],
                "version": matching[0]["version"]}

    # --- datasets -----------------------------------------------------------------------------------

    def list_datasets(self, **filters) -> list[dict]:
        return list(self.paginate("/datasets/", filters))

    def get_dataset(self, key: str) -> dict:
        return self.request("GET", f"/datasets/{key}/")

    def create_dataset(self, key: str, name: str, owner_team: str, *, source_system: str = "",
                       description: str = "") -> dict:
        return self.request("POST", "/datasets/", json={"key": key, "name": name, "owner_team": owner_team,
                                                        "source_system": source_system,
                                                        "description": description})

    def list_dataset_versions(self, key: str, **filters) -> list[dict]:
        return list(self.paginate(f"/datasets/{key}/versions/", filters))

    def get_dataset_version(self, key: str, number: int) -> dict:
        return self.request("GET", f"/datasets/{key}/versions/{number}/")

    def register_dataset_version(self, key: str, *, file: str | os.PathLike | None = None,
                                 derived_from: Iterable[tuple[str, int]] | None = None, **facts: Any) -> dict:
        """Registers the next version of a dataset: from a CSV/Parquet `file` (hashed locally and
        uploaded), or from declared facts alone (content_sha256, row_count, schema, ...).

        `derived_from` names the dataset versions this one was derived from, as (dataset key, version
        number) pairs: at most 50, each once, each one the caller may see."""
        facts = {name: value for name, value in facts.items() if value is not None}
        if derived_from is not None:
            if isinstance(derived_from, str):
                raise ValueError(f"derived_from is a list of (dataset key, version) pairs, not the text {derived_from!r}.")
            facts["derived_from"] = [{"dataset": source_key, "version": int(number)}
                                     for source_key, number in derived_from]
        if file is None:
            return self.request("POST", f"/datasets/{key}/versions/", json=facts)
        form = {name: json.dumps(value) if isinstance(value, (dict, list, tuple, bool)) else str(value)
                for name, value in facts.items()}
        form.setdefault("content_sha256", file_sha256(file))
        with open(file, "rb") as handle:
            return self.request("POST", f"/datasets/{key}/versions/", data=form,
                                files={"file": (Path(file).name, handle, "application/octet-stream")})

    # --- deployments --------------------------------------------------------------------------------

    def record_deployment(self, use_case: str, model: str, version: int, environment: str, *,
                          pipeline_run: str = "", deployed_at: str | None = None) -> dict:
        body = {"use_case": use_case, "model": model, "version": version, "environment": environment,
                "pipeline_run": pipeline_run}
        if deployed_at is not None:
            body["deployed_at"] = deployed_at
        return self.request("POST", "/deployments/", json=body)

    def list_deployments(self, **filters) -> list[dict]:
        return list(self.paginate("/deployments/", filters))

    # --- reviews ------------------------------------------------------------------------------------

    def submit_review(self, use_case: str, model: str, version: int, environment: str, *, label_column: str = "",
                      positive_label: str | int = 1, documentation: dict[str, str] | None = None,
                      previous_case: int | None = None) -> dict:
        """Submits a model version for review in `environment`; the checks start once Docket commits it.
        `documentation` adds fields the policy requires beyond the version's own (e.g. human_oversight)."""
        body = {"use_case": use_case, "model": model, "version": int(version), "environment": environment,
                "label_column": label_column, "positive_label": positive_label,
                "documentation": dict(documentation or {})}
        if previous_case is not None:
            body["previous_case"] = int(previous_case)
        return self.request("POST", "/reviews/", json=body)

    def get_review(self, case_id: int) -> dict:
        return self.request("GET", f"/reviews/{int(case_id)}/")

    def list_reviews(self, *, limit: int | None = None, **filters) -> list[dict]:
        """Filters: status, environment, use_case, model, version."""
        return list(self.paginate("/reviews/", filters, limit=limit))

    def list_review_checks(self, case_id: int) -> list[dict]:
        return list(self.paginate(f"/reviews/{int(case_id)}/checks/"))

    def wait_for_review(self, case_id: int, *, timeout: float = 900.0, interval: float = 2.0,
                        on_update=None, clock=time.monotonic, sleep=time.sleep) -> dict:
        """Polls the case until its checks have finished (or it reached a final state) and returns it.
        `on_update(case)` is called whenever its status or check progress changes. Raises TimeoutError."""
        deadline = clock() + timeout
        seen = None
        while True:
            case = self.get_review(case_id)
            state = (case["status"], [(c["kind"], c["status"], c["progress"]) for c in case["checks"]])
            if on_update is not None and state != seen:
                on_update(case)
            seen = state
            if case["status"] not in ("open", "checks_running"):
                return case
            if clock() >= deadline:
                raise TimeoutError(f"Review {case_id} is still {case['status']} after {timeout:g} s.")
            sleep(interval)

    # --- reports ------------------------------------------------------------------------------------

    def request_report(self, kind: str, **subject: Any) -> dict:
        """Asks for a document; generation is queued (the answer has status "queued"). `subject`: use_case,
        model, version (annex_iv, model_card); review (validation_report); use_case or review
        (evidence_pack); subject_type, subject_id, since, until (audit_extract); checkpoint (any)."""
        body = {"kind": kind, **{key: value for key, value in subject.items() if value is not None}}
        return self.request("POST", "/reports/", json=body)

    def get_report(self, report_id: int) -> dict:
        return self.request("GET", f"/reports/{int(report_id)}/")

    def list_reports(self, *, limit: int | None = None) -> list[dict]:
        return list(self.paginate("/reports/", limit=limit))

    def wait_for_report(self, report_id: int, *, timeout: float = 600.0, interval: float = 1.0, on_update=None,
                        clock=time.monotonic, sleep=time.sleep) -> dict:
        """Polls until the document is done or failed and returns it; raises TimeoutError."""
        deadline = clock() + timeout
        seen = None
        while True:
            report = self.get_report(report_id)
            state = (report["status"], report["progress"])
            if on_update is not None and state != seen:
                on_update(report)
            seen = state
            if report["status"] in ("done", "failed"):
                return report
            if clock() >= deadline:
                raise TimeoutError(f"Document {report_id} is still {report['status']} after {timeout:g} s.")
            sleep(interval)

    def download_report(self, report_id: int, destination: str | os.PathLike) -> str:
        """Writes the generated file to `destination`, checks it against the SHA-256 Docket recorded and
        returns that SHA-256. Raises DocketError when the bytes differ."""
        report = self.get_report(report_id)
        return self._download(f"{API_PREFIX}/reports/{int(report_id)}/download/", destination,
                              expected_sha256=report["sha256"])

    def download_artifact(self, use_case: str, model: str, number: int, destination: str | os.PathLike) -> str:
        """Writes a model version's registered artifact to `destination`, checks it against the version's
        registered SHA-256 and returns it. Raises DocketError when the bytes differ (the file is removed)."""
        version = self.get_model_version(use_case, model, number)
        return self._download(f"{API_PREFIX}/use-cases/{use_case}/models/{model}/versions/{int(number)}/artifact/",
                              destination, expected_sha256=version["artifact_sha256"])

    def _download(self, url: str, destination: str | os.PathLike, *, expected_sha256: str) -> str:
        digest = hashlib.sha256()
        try:
            with self._http.stream("GET", url, headers={"Accept": "application/octet-stream"}) as response:
                if response.is_error:
                    response.read()
                    raise DocketError(response.status_code, response.json() if response.content else {})
                with open(destination, "wb") as handle:
                    for chunk in response.iter_bytes():
                        handle.write(chunk)
                        digest.update(chunk)
        except httpx.HTTPError as exc:
            raise DocketConnectionError(f"Cannot reach Docket at {self.url}: {exc}") from exc
        if digest.hexdigest() != expected_sha256:
            Path(destination).unlink(missing_ok=True)
            raise DocketError(422, {"title": "Checksum mismatch", "detail": f"The downloaded file's SHA-256 "
                                    f"{digest.hexdigest()} differs from the recorded {expected_sha256}; "
                                    "the file was removed."})
        return digest.hexdigest()

    # --- lineage -----------------------------------------------------------------------------------

    def lineage_upstream(self, **start_and_options: Any) -> dict:
        """What the start node came from. Start: node, model_version, dataset_version, deployment,
        review_case, approval (ids) or dataset (key); options: depth (1-10), as_of (ISO 8601)."""
        return self.request("GET", "/lineage/upstream", params=_present(start_and_options))

    def lineage_downstream(self, **start_and_options: Any) -> dict:
        """What came from the start node; the same arguments as `lineage_upstream`."""
        return self.request("GET", "/lineage/downstream", params=_present(start_and_options))

    def lineage_window(self, *, environment: str, start: str, end: str, **dataset: Any) -> dict:
        """Deployments in `environment` that depended on the dataset (dataset=key, dataset_version=id or
        node=id) at some time between `start` and `end`."""
        return self.request("GET", "/lineage/window",
                            params=_present({"environment": environment, "start": start, "end": end, **dataset}))

    def lineage_behind(self, use_case: str, at: str, *, environment: str = "production") -> dict:
        """What was behind the use case's decisions in `environment` at time `at`."""
        return self.request("GET", "/lineage/behind",
                            params={"use_case": use_case, "at": at, "environment": environment})

    def lineage_inquiry_save(self, kind: str, parameters: dict, *, requester: str, reason: str) -> dict:
        """Runs and saves an inquiry (kind: upstream, downstream, window, behind) with who asked and why."""
        return self.request("POST", "/lineage/inquiries",
                            json={"kind": kind, "parameters": parameters, "requester": requester, "reason": reason})

    def lineage_inquiry(self, inquiry_id: int) -> dict:
        return self.request("GET", f"/lineage/inquiries/{int(inquiry_id)}")

    def lineage_inquiry_pdf(self, inquiry_id: int, destination: str | os.PathLike) -> str:
        """Renders the inquiry's PDF if needed, writes it to `destination`, checks its SHA-256 against the
        one Docket recorded and returns it."""
        inquiry = self.request("POST", f"/lineage/inquiries/{int(inquiry_id)}/pdf")
        try:
            response = self._http.get(f"{API_PREFIX}/lineage/inquiries/{int(inquiry_id)}/pdf",
                                      headers={"Accept": "application/pdf"})
        except httpx.HTTPError as exc:
            raise DocketConnectionError(f"Cannot reach Docket at {self.url}: {exc}") from exc
        if response.is_error:
            raise DocketError(response.status_code, response.json() if response.content else {})
        digest = hashlib.sha256(response.content).hexdigest()
        if digest != inquiry["pdf_sha256"]:
            raise DocketError(422, {"title": "Checksum mismatch", "detail": f"The downloaded PDF's SHA-256 "
                                    f"{digest} differs from the recorded {inquiry['pdf_sha256']}."})
        Path(destination).write_bytes(response.content)
        return digest

    # --- promotion gate -----------------------------------------------------------------------------

    def gate_check(self, model: str, version: int, artifact_sha256: str, environment: str, *,
                   context: dict | None = None) -> dict:
        """Asks the gate whether the artifact may go to `environment` now. Returns the decision
        ({"decision": "allow"|"deny", "reasons", "attestation", ...}); when Docket failed closed (HTTP 503)
        that is a deny with the reason internal_error, not an exception. `model` is "use-case/model"."""
        body = {"model": model, "version": version, "artifact_sha256": artifact_sha256,
                "environment": environment, "context": context or {}}
        try:
            return self.request("POST", "/gate/check", json=body)
        except DocketError as exc:
            if exc.status == 503 and exc.problem.get("decision") == "deny":
                return exc.problem
            raise

    def gate_keys(self) -> list[dict]:
        """The verifier keys of gate attestations (C2SP vkey text in `vkey`)."""
        return self.request("GET", "/gate/keys")

    def expiring_approvals(self, within_days: int | None = None) -> list[dict]:
        return list(self.paginate("/gate/expiring-approvals", {"within_days": within_days}))

    def revoke_approval(self, approval_id: int, reason: str) -> dict:
        return self.request("POST", f"/gate/approvals/{approval_id}/revoke", json={"reason": reason})


def _present(values: dict) -> dict:
    """The query parameters that were given (None means "not given")."""
    return {key: value for key, value in values.items() if value is not None}
