"""`docket`: register datasets and models from training code and pipelines.

Configuration: DOCKET_URL and DOCKET_API_KEY, or the file `docket login` writes (mode 0600).
Output is for people by default; `--json` prints the server's JSON for machines.

Exit codes: 0 done; 1 Docket refused or denied the request (invalid input, no permission, not found,
conflict, authentication failed); 2 usage error, missing configuration, connection failure or a
server error (5xx).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from .client import (
    DocketClient,
    DocketConfigurationError,
    DocketConnectionError,
    DocketError,
    file_sha256,
    write_config,
)

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """A command-line argument that cannot be understood."""


# --- argument parsing helpers -----------------------------------------------------------------------


def model_reference(value: str) -> tuple[str, str, int | None]:
    """"use-case/model" or "use-case/model@3"."""
    reference, _, number = value.partition("@")
    use_case, slash, model = reference.partition("/")
    if not slash or not use_case or not model:
        raise argparse.ArgumentTypeError(f"{value!r}: write the model as <use-case>/<model>[@<version>]")
    if number and not number.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r}: the version after @ is a number")
    return use_case, model, int(number) if number else None


def dataset_reference(value: str) -> tuple[str, int | None]:
    """"loans" or "loans@2"."""
    key, _, number = value.partition("@")
    if not key or (number and not number.isdigit()):
        raise argparse.ArgumentTypeError(f"{value!r}: write the dataset as <key>[@<version>]")
    return key, int(number) if number else None


def dataset_version_reference(value: str) -> tuple[str, int]:
    """"loans@2" -> (dataset key, version)."""
    key, _, number = value.partition("@")
    if not key or not number.isdigit() or int(number) < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: write a dataset version as <dataset key>@<version>, e.g. loans@2")
    return key, int(number)


def dataset_link(value: str) -> tuple[str, str, int]:
    """"train=loans@1" -> (role, dataset key, version)."""
    role, equals, reference = value.partition("=")
    key, _, number = reference.partition("@")
    if not equals or not role or not key or not number.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r}: write a dataset as <role>=<dataset key>@<version>, "
                                         "e.g. train=loans@3")
    return role, key, int(number)


def metric_claim(value: str) -> tuple:
    """"auc=0.91@test" (on the dataset linked as test) or "auc=0.91@loans@2"."""
    name, equals, rest = value.partition("=")
    number, at, target = rest.partition("@")
    if not equals or not name or not at or not target:
        raise argparse.ArgumentTypeError(f"{value!r}: write a metric as <name>=<value>@<dataset role>, "
                                         "e.g. auc=0.91@test")
    try:
        figure = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: {number!r} is not a number") from None
    if "@" in target:
        key, _, version = target.partition("@")
        if not version.isdigit():
            raise argparse.ArgumentTypeError(f"{value!r}: the dataset version after @ is a number")
        return name, figure, key, int(version)
    return name, figure, target


def json_value(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None


def key_value(value: str) -> tuple[str, str]:
    name, equals, text = value.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"{value!r}: write it as <field>=<text>")
    return name, text


# --- output -----------------------------------------------------------------------------------------


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def _describe_model_version(version: dict) -> str:
    lines = [
        f"{version['use_case']}/{version['model']} version {version['number']}",
        (f"  artifact   {version['artifact_format']}  sha256:{version['artifact_sha256']}  "
         f"{version['artifact_size']} bytes"),
        f"  framework  {version['framework']} {version['framework_version']}".rstrip(),
        f"  registered {version['registered_at']} by {version['registered_by'] or 'Docket'}",
        "  developers " + (", ".join(f"{person['display_name']} ({person['username']})"
                                     for person in version.get("developers", [])) or "none recorded"),
    ]
    if version.get("parent"):
        lines.append(f"  parent     version {version['parent']}")
    for link in version.get("datasets", []):
        lines.append(f"  dataset    {link['role']}={link['dataset']}@{link['version']}")
    for metric in version.get("claimed_metrics", []):
        lines.append(f"  metric     {metric['name']}={metric['value']} on {metric['dataset']}@{metric['version']}")
    return "\n".join(lines)


def _describe_dataset_version(version: dict) -> str:
    columns = ", ".join(f"{c['name']}:{c['type']}" for c in version["schema"])
    return "\n".join([
        f"{version['dataset']} version {version['number']}  ({version['lifecycle_state']})",
        f"  content    sha256:{version['content_sha256']}  {version['row_count']} rows",
        f"  schema     {columns}",
        f"  file       {version['file_format'] or 'none stored'}",
        f"  registered {version['registered_at']} by {version['registered_by'] or 'Docket'}",
        *(f"  derived from {source['dataset']}@{source['version']}" for source in version.get("derived_from", [])),
    ])


def _table(rows: list[dict], columns: list[str]) -> str:
    if not rows:
        return "(none)"
    widths = {c: max(len(c), *(len(str(row.get(c, ""))) for row in rows)) for c in columns}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


# --- commands ---------------------------------------------------------------------------------------


def cmd_login(args, client_factory) -> Any:
    url = args.url
    api_key = args.api_key or (sys.stdin.readline().strip() if args.api_key_stdin else None)
    if not api_key:
        api_key = getpass.getpass("API key: ").strip()
    if not api_key:
        raise UsageError("No API key given.")
    with DocketClient(url, api_key) as client:
        me = client.me()
    path = write_config(url, api_key)
    me["config_file"] = str(path)
    return me, f"Signed in to {url} as {me['username']}; configuration written to {path} (mode 0600)."


def cmd_whoami(args, client_factory):
    me = client_factory().me()
    scopes = ", ".join(me.get("scopes") or []) or "-"
    return me, f"{me['username']} ({me['kind']}); scopes: {scopes}"


def cmd_use_case_list(args, client_factory):
    rows = client_factory().list_use_cases(risk_class=args.risk_class)
    return rows, _table(rows, ["key", "name", "owner_team", "risk_class", "model_risk_tier"])


def cmd_use_case_get(args, client_factory):
    use_case = client_factory().get_use_case(args.key)
    return use_case, "\n".join(f"{field:<20} {value}" for field, value in use_case.items())


def cmd_model_list(args, client_factory):
    rows = client_factory().list_models(use_case=args.use_case)
    return rows, _table(rows, ["use_case", "key", "name"])


def cmd_model_create(args, client_factory):
    use_case, model, number = args.model
    if number is not None:
        raise UsageError("Create a model without @<version>: versions are registered with `docket model register`.")
    created = client_factory().create_model(use_case, model, args.name, args.description)
    return created, f"Created model {use_case}/{model}."


def cmd_model_get(args, client_factory):
    use_case, model, number = args.model
    client = client_factory()
    if number is None:
        found = client.get_model(use_case, model)
        return found, f"{found['use_case']}/{found['key']}: {found['name']}"
    version = client.get_model_version(use_case, model, number)
    return version, _describe_model_version(version)


def cmd_model_download(args, client_factory):
    use_case, model, number = args.model
    if number is None:
        raise UsageError("Name the version to download: <use-case>/<model>@<version>.")
    digest = client_factory().download_artifact(use_case, model, number, args.out)
    return ({"use_case": use_case, "model": model, "version": number, "path": args.out, "sha256": digest},
            f"{args.out}: sha256 {digest} (checked against the registered hash)")


def cmd_model_versions(args, client_factory):
    filters = {"artifact_sha256": args.sha256, "framework": args.framework}
    if args.model:
        use_case, model, _ = args.model
        filters.update(use_case=use_case, model=model)
    rows = client_factory().list_model_versions(limit=args.limit, **filters)
    return rows, _table(rows, ["use_case", "model", "number", "artifact_format", "artifact_sha256",
                               "registered_at"])


def cmd_model_register(args, client_factory):
    use_case, model, number = args.model
    if number is not None:
        raise UsageError("Docket numbers versions itself; name the model without @<version>.")
    fields = {
        "framework_version": args.framework_version,
        "training_code_repository": args.repository,
        "training_code_commit": args.commit,
        "hyperparameters": args.hyperparameters,
        "features": args.features,
        "library_versions": args.library_versions,
        "limitations": args.limitations,
        "out_of_scope_uses": args.out_of_scope_uses,
    }
    try:
        version = client_factory().register_model_version(
            use_case, model, artifact=args.artifact, framework=args.framework, intended_use=args.intended_use,
            datasets=args.dataset, metrics=args.metric, parent=args.parent, developers=args.developer or None,
            **fields,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return version, "Registered " + _describe_model_version(version)


def cmd_dataset_list(args, client_factory):
    rows = client_factory().list_datasets(owner_team=args.team)
    return rows, _table(rows, ["key", "name", "owner_team", "source_system"])


def cmd_dataset_create(args, client_factory):
    created = client_factory().create_dataset(args.key, args.name, args.team, source_system=args.source_system,
                                              description=args.description)
    return created, f"Created dataset {created['key']} owned by {created['owner_team']}."


def cmd_dataset_get(args, client_factory):
    key, number = args.dataset
    client = client_factory()
    if number is None:
        found = client.get_dataset(key)
        return found, f"{found['key']}: {found['name']} (team {found['owner_team']})"
    version = client.get_dataset_version(key, number)
    return version, _describe_dataset_version(version)


def cmd_dataset_versions(args, client_factory):
    rows = client_factory().list_dataset_versions(args.key, content_sha256=args.sha256)
    return rows, _table(rows, ["dataset", "number", "content_sha256", "row_count", "lifecycle_state"])


def cmd_dataset_register(args, client_factory):
    if args.file is None and args.sha256 is None:
        raise UsageError("Give --file, or declare the data with --sha256, --rows and --schema.")
    facts = {
        "content_sha256": args.sha256,
        "row_count": args.rows,
        "schema": args.schema,
        "contains_personal_data": args.personal_data or None,
        "contains_special_category_data": args.special_category_data or None,
        "special_category_justification": args.special_category_justification,
        "protected_attributes": args.protected_attribute or None,
        "legal_basis": args.legal_basis,
        "retention_until": args.retention_until,
        "datasheet": dict(args.datasheet) if args.datasheet else None,
    }
    version = client_factory().register_dataset_version(args.key, file=args.file, derived_from=args.derived_from,
                                                        **facts)
    return version, "Registered " + _describe_dataset_version(version)


def cmd_deployment_record(args, client_factory):
    use_case, model, number = args.model
    if number is None:
        raise UsageError("Name the deployed version: <use-case>/<model>@<version>.")
    deployment = client_factory().record_deployment(use_case, model, number, args.environment,
                                                    pipeline_run=args.pipeline_run)
    return deployment, (f"Recorded deployment {deployment['id']}: {use_case}/{model}@{number} in "
                        f"{deployment['environment']}.")


def cmd_deployment_list(args, client_factory):
    rows = client_factory().list_deployments(environment=args.environment, status=args.status)
    return rows, _table(rows, ["id", "use_case", "model", "version", "environment", "status", "deployed_at"])


# --- reviews ----------------------------------------------------------------------------------------


def review_outcome(case: dict) -> int:
    """0 for an approved case, or one awaiting a decision with every check passed; 1 for a failed or
    uncompleted check, or a rejected, sent-back or withdrawn case; 0 while checks are still running."""
    if case["status"] == "approved":
        return EXIT_OK
    if case["status"] in ("rejected", "changes_requested", "withdrawn"):
        return EXIT_REFUSED
    if case["status"] in ("open", "checks_running"):
        return EXIT_OK
    return EXIT_OK if all(check["status"] == "passed" for check in case["checks"]) else EXIT_REFUSED


def _describe_check(check: dict) -> str:
    if check["status"] in ("pending", "running"):
        line = f"{check['kind']:<16} {check['status']:<8} {check['progress']:>3}%  {check['progress_message']}"
    else:
        line = f"{check['kind']:<16} {check['status']:<8} {check['summary']}"
    if check.get("risk_acceptance"):
        line += f"  [risk accepted by {check['risk_acceptance']['accepted_by']}]"
    return line.rstrip()


def _describe_review(case: dict) -> str:
    lines = [
        f"review {case['id']}: {case['use_case']}/{case['model']}@{case['version']} for {case['environment']}  "
        f"{case['status']}" + (f" ({case['status_reason']})" if case.get("status_reason") else ""),
        f"  policy {case['policy']['key']} v{case['policy']['version']}, thresholds locked at opening",
    ]
    lines += [f"  {_describe_check(check)}" for check in case["checks"]]
    if case.get("approval"):
        lines.append(f"  approved until {case['approval']['expires_at']}")
    return "\n".join(lines)


def _print_progress(case: dict) -> None:
    checks = " | ".join(
        f"{check['kind']} {check['status'] if check['status'] not in ('pending', 'running') else str(check['progress']) + '%'}"
        for check in case["checks"]
    )
    print(f"review {case['id']} {case['status']} {case['progress']}%" + (f": {checks}" if checks else ""),
          file=sys.stderr, flush=True)


def cmd_review_submit(args, client_factory):
    use_case, model, number = args.model
    if number is not None and args.version is not None and number != args.version:
        raise UsageError(f"--model names version {number} but --version says {args.version}.")
    number = number if number is not None else args.version
    if number is None:
        raise UsageError("Name the version: --version N (or --model <use-case>/<model>@N).")
    client = client_factory()
    case = client.submit_review(use_case, model, number, args.env, label_column=args.label_column,
                                positive_label=_label(args.positive_label), documentation=dict(args.doc),
                                previous_case=args.previous_case)
    if not args.wait:
        return case, f"Submitted: {_describe_review(case)}", EXIT_OK
    case = client.wait_for_review(case["id"], timeout=args.timeout, interval=args.interval,
                                  on_update=_print_progress)
    code = review_outcome(case)
    verdict = "every check passed" if code == EXIT_OK else "not every check passed"
    return case, f"{_describe_review(case)}\n{verdict}", code


def cmd_review_status(args, client_factory):
    case = client_factory().get_review(args.case)
    return case, _describe_review(case), review_outcome(case)


def cmd_review_list(args, client_factory):
    rows = client_factory().list_reviews(status=args.status, environment=args.env, limit=args.limit)
    flat = [{**row, "version": f"{row['use_case']}/{row['model']}@{row['version']}"} for row in rows]
    return rows, _table(flat, ["id", "version", "environment", "status", "progress", "opened_at"])


def _label(value: str) -> str | int:
    """A positive label given on the command line: an integer when it reads as one."""
    return int(value) if value.lstrip("-").isdigit() else value


# --- promotion gate ---------------------------------------------------------------------------------

# Pipeline facts recorded with a gate decision when the CI system provides them.
CI_CONTEXT_VARIABLES = {
    "GITHUB_REPOSITORY": "repository", "GITHUB_RUN_ID": "run_id", "GITHUB_SHA": "commit",
    "CI_PROJECT_PATH": "repository", "CI_PIPELINE_URL": "run_url", "CI_COMMIT_SHA": "commit",
    "ARGO_WORKFLOW_NAME": "run_id",
}


def _artifact_sha256(value: str) -> str:
    """The SHA-256 of an artifact file, or the digest given as 64 hex digits (optionally sha256:...)."""
    if os.path.isfile(value):
        return file_sha256(value)
    digest = value.strip().lower().removeprefix("sha256:")
    if len(digest) == 64 and all(ch in "0123456789abcdef" for ch in digest):
        return digest
    raise UsageError(f"--artifact {value!r} is neither a file nor a SHA-256 (64 hexadecimal digits).")


def _describe_gate_decision(decision: dict) -> str:
    lines = [(f"{decision['decision'].upper()}: {decision['model']}@{decision['version']} "
              f"(sha256:{decision['artifact_sha256']}) to {decision['environment']}")]
    lines += [f"  {reason['code']}: {reason['detail']}" for reason in decision["reasons"]]
    approval = decision.get("approval")
    if approval:
        signers = ", ".join(signer["name"] for signer in approval["signed_by"]) or "-"
        lines.append(f"  approval {approval['id']} by {signers}, valid until {approval['expires_at']}")
        lines += [f"  condition: {condition}" for condition in approval["conditions"]]
    if decision.get("rollback_to"):
        rollback = decision["rollback_to"]
        lines.append(f"  rollback_to: version {rollback['version']} (sha256:{rollback['artifact_sha256']})")
    if decision.get("audit_index") is not None:
        lines.append(f"  audit index {decision['audit_index']}")
    return "\n".join(lines)


def cmd_gate_check(args, client_factory):
    use_case, model, number = args.model
    if number is not None and args.version is not None and number != args.version:
        raise UsageError(f"--model names version {number} but --version says {args.version}.")
    number = number if number is not None else args.version
    if number is None:
        raise UsageError("Name the version: --version N (or --model <use-case>/<model>@N).")
    context = {name: os.environ[variable] for variable, name in CI_CONTEXT_VARIABLES.items()
               if os.environ.get(variable)}
    context.update(dict(args.context))
    try:
        decision = client_factory().gate_check(f"{use_case}/{model}", number, _artifact_sha256(args.artifact),
                                               args.env, context=context)
    except DocketConnectionError:
        raise
    except DocketError as exc:  # the request itself was refused: a usage or configuration problem
        raise UsageError(f"the gate refused the request ({exc.status} {exc.kind}): {exc.detail} "
                         + " ".join(f"[{field}: {messages}]" for field, messages in exc.errors.items())) from None
    if args.attestation_out and decision.get("attestation"):
        with open(args.attestation_out, "w", encoding="utf-8") as handle:
            json.dump(decision["attestation"], handle, indent=2)
            handle.write("\n")
    return decision, _describe_gate_decision(decision), EXIT_OK if decision["decision"] == "allow" else EXIT_REFUSED


def cmd_gate_verify_attestation(args, client_factory):
    from apps.gate.attestation import AttestationError, describe, verify_attestation

    keys = list(args.key) or [key["vkey"] for key in client_factory().gate_keys()]
    try:
        with open(args.file, "rb") as handle:
            envelope = handle.read()
    except OSError as exc:
        raise UsageError(str(exc)) from None
    expected = _artifact_sha256(args.artifact) if args.artifact else None
    try:
        statement = verify_attestation(envelope, keys, artifact_sha256=expected)
    except AttestationError as exc:
        return {"verified": False, "error": str(exc)}, f"FAILED: {exc}", EXIT_REFUSED
    return {"verified": True, "statement": statement}, "OK: the attestation verifies\n" + describe(statement), EXIT_OK


# --- parser -----------------------------------------------------------------------------------------


# --- reports ------------------------------------------------------------------------------------------


def _describe_report(report: dict) -> str:
    subject = report["subject"]["label"] if report.get("subject") else "all visible use cases"
    line = f"document {report['id']}: {report['kind']} of {subject}  {report['status']}"
    if report["status"] in ("queued", "running"):
        line += f" {report['progress']}% {report['progress_message']}".rstrip()
    if report["status"] == "done":
        line += (f"\n  {report['file_name']} ({report['size']} bytes) sha256 {report['sha256']}"
                 f"\n  reflects audit entries {report['audit_index_first']}..{report['audit_index_last']} "
                 f"(checkpoint {report['checkpoint_tree_size']}); recorded at audit index {report['audit_index']}")
    if report["status"] == "failed":
        line += f": {report['error']}"
    return line


def cmd_report_generate(args, client_factory):
    subject: dict[str, Any] = {"checkpoint": args.checkpoint}
    if args.model:
        use_case, model, number = args.model
        if number is None:
            raise UsageError("Name the version: --model <use-case>/<model>@N.")
        subject.update(use_case=use_case, model=model, version=number)
    elif args.use_case:
        subject["use_case"] = args.use_case
    subject.update(review=args.review, subject_type=args.subject_type, subject_id=args.subject_id,
                   since=args.since, until=args.until)
    client = client_factory()
    report = client.request_report(args.kind, **subject)
    if not (args.wait or args.out):
        return report, f"Requested: {_describe_report(report)}", EXIT_OK
    report = client.wait_for_report(report["id"], timeout=args.timeout, interval=args.interval,
                                    on_update=lambda r: print(f"document {r['id']} {r['status']} {r['progress']}%",
                                                              file=sys.stderr, flush=True))
    if report["status"] != "done":
        return report, _describe_report(report), EXIT_REFUSED
    text = _describe_report(report)
    if args.out:
        client.download_report(report["id"], args.out)
        text += f"\n  written to {args.out} (SHA-256 checked)"
    return report, text, EXIT_OK


def cmd_report_status(args, client_factory):
    report = client_factory().get_report(args.document)
    return report, _describe_report(report), EXIT_REFUSED if report["status"] == "failed" else EXIT_OK


def cmd_report_download(args, client_factory):
    sha256 = client_factory().download_report(args.document, args.out)
    return {"id": args.document, "path": args.out, "sha256": sha256}, f"{args.out}: sha256 {sha256} (checked)"


def cmd_report_list(args, client_factory):
    rows = client_factory().list_reports(limit=args.limit)
    flat = [{**row, "subject": (row.get("subject") or {}).get("label", "")} for row in rows]
    return rows, _table(flat, ["id", "kind", "subject", "status", "progress", "sha256"])


# --- lineage ------------------------------------------------------------------------------------------

LINEAGE_STARTS = ("node", "model_version", "dataset_version", "deployment", "review_case", "approval", "dataset")


def _lineage_start(args) -> dict:
    start = {name: getattr(args, name) for name in LINEAGE_STARTS if getattr(args, name, None) is not None}
    if len(start) != 1:
        raise UsageError("Name exactly one start: --node, --model-version, --dataset-version, --deployment, "
                         "--review-case, --approval or --dataset.")
    return start


def _hidden_line(answer: dict) -> str:
    total = (answer.get("hidden") or {}).get("total", 0)
    return f"hidden nodes: {total} (you may not see them; nothing beyond them is shown)" if total else \
        "hidden nodes: none"


def _describe_graph(graph: dict) -> str:
    lines = [(f"{graph['direction']} of {', '.join(n['label'] for n in graph['start'])} as of {graph['as_of']} "
              f"(depth {graph['depth']})")]
    lines += [f"  {'  ' * (node['depth'] - 1)}{node['depth']}. {node['kind']:<16} {node['label']}  [node {node['id']}]"
              for node in graph["nodes"]]
    if not graph["nodes"]:
        lines.append("  (nothing)")
    lines.append(_hidden_line(graph))
    return "\n".join(lines)


def cmd_lineage_walk(args, client_factory):
    client = client_factory()
    options = {**_lineage_start(args), "depth": args.depth, "as_of": args.as_of}
    graph = (client.lineage_upstream if args.action == "upstream" else client.lineage_downstream)(**options)
    return graph, _describe_graph(graph)


def _describe_window(answer: dict) -> str:
    lines = [(f"deployments in {answer['environment']} depending on "
              f"{', '.join(n['label'] for n in answer['datasets'])} between {answer['start']} and {answer['end']}:")]
    lines += [f"  deployment {d['deployment']}: {d['use_case']}/{d['model']} v{d['version']} deployed "
              f"{d['deployed_at']} ({d['status']}), {d['distance']} edge(s) away" for d in answer["deployments"]]
    if not answer["deployments"]:
        lines.append("  none")
    lines.append(_hidden_line(answer))
    return "\n".join(lines)


def cmd_lineage_window(args, client_factory):
    dataset = {"dataset": args.dataset, "dataset_version": args.dataset_version, "node": args.node}
    answer = client_factory().lineage_window(environment=args.environment, start=args.start, end=args.end,
                                             **dataset)
    return answer, _describe_window(answer)


def _describe_behind(answer: dict) -> str:
    lines = [f"behind {answer['use_case']} in {answer['environment']} at {answer['at']}:"]
    for deployment in answer["deployments"]:
        lines.append(f"  deployment {deployment['deployment']}: {deployment['model']} v{deployment['version']} "
                     f"(sha256 {deployment['artifact_sha256'][:16]}...) since {deployment['deployed_at']}")
        for approval in deployment["approvals"]:
            signers = ", ".join(f"{s['signer']} ({s['meaning']})" for s in approval["signatures"])
            lines.append(f"    approval {approval['approval']}: {approval['state_at']} then; signed by {signers}")
        for dataset in deployment["datasets"]:
            lines.append(f"    dataset {dataset['dataset']} v{dataset['version']}: legal basis "
                         f"{dataset['legal_basis_label'] or 'n/a'}")
    if not answer["deployments"]:
        lines.append("  no deployment was running then")
    lines.append(_hidden_line(answer))
    return "\n".join(lines)


def cmd_lineage_behind(args, client_factory):
    answer = client_factory().lineage_behind(args.use_case, args.at, environment=args.environment)
    return answer, _describe_behind(answer)


def cmd_lineage_inquiry_save(args, client_factory):
    client = client_factory()
    inquiry = client.lineage_inquiry_save(args.kind, dict(args.param), requester=args.requester, reason=args.reason)
    text = (f"inquiry {inquiry['id']} saved: answer sha256 {inquiry['answer_sha256']}, "
            f"checkpoint {inquiry['checkpoint_tree_size']}")
    if args.pdf:
        digest = client.lineage_inquiry_pdf(inquiry["id"], args.pdf)
        text += f"\n  PDF written to {args.pdf} (sha256 {digest}, checked)"
    return inquiry, text


def cmd_lineage_inquiry_pdf(args, client_factory):
    digest = client_factory().lineage_inquiry_pdf(args.inquiry, args.out)
    return {"id": args.inquiry, "path": args.out, "sha256": digest}, f"{args.out}: sha256 {digest} (checked)"


def build_parser() -> argparse.ArgumentParser:
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print the server's JSON instead of text")

    parser = argparse.ArgumentParser(
        prog="docket", parents=[output],
        description="Register datasets and models with Docket. Exit codes: 0 done, 1 refused or denied, "
                    "2 usage, configuration, connection or server error.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(parent, name, handler, help_text):
        sub = parent.add_parser(name, parents=[output], help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    login = command(commands, "login", cmd_login, "check an API key and store it with the server URL")
    login.add_argument("--url", required=True, help="Docket's base URL, e.g. https://docket.example.com")
    login.add_argument("--api-key", help="the key (default: prompt, or --api-key-stdin)")
    login.add_argument("--api-key-stdin", action="store_true", help="read the key from standard input")
    command(commands, "whoami", cmd_whoami, "show the account the configured key belongs to")

    use_case = commands.add_parser("use-case", help="AI use cases").add_subparsers(dest="action", required=True)
    listing = command(use_case, "list", cmd_use_case_list, "list the use cases you may see")
    listing.add_argument("--risk-class")
    command(use_case, "get", cmd_use_case_get, "show one use case").add_argument("key")

    model = commands.add_parser("model", help="models and model versions").add_subparsers(dest="action",
                                                                                           required=True)
    command(model, "list", cmd_model_list, "list models").add_argument("--use-case")
    create = command(model, "create", cmd_model_create, "create a model in a use case")
    create.add_argument("model", type=model_reference, metavar="USE_CASE/MODEL")
    create.add_argument("--name", required=True)
    create.add_argument("--description", default="")
    get = command(model, "get", cmd_model_get, "show a model, or one version with @N")
    get.add_argument("model", type=model_reference, metavar="USE_CASE/MODEL[@N]")
    download = command(model, "download", cmd_model_download,
                       "download a version's registered artifact, checked against its SHA-256")
    download.add_argument("model", type=model_reference, metavar="USE_CASE/MODEL@N")
    download.add_argument("--out", required=True, help="where to write the file")
    versions = command(model, "versions", cmd_model_versions, "list model versions, newest first")
    versions.add_argument("model", type=model_reference, nargs="?", metavar="USE_CASE/MODEL")
    versions.add_argument("--sha256", help="only versions with this artifact hash")
    versions.add_argument("--framework")
    versions.add_argument("--limit", type=int, default=100)
    register = command(model, "register", cmd_model_register, "register the next version of a model")
    register.add_argument("--model", required=True, type=model_reference, metavar="USE_CASE/MODEL")
    register.add_argument("--artifact", required=True, help="a skops or ONNX file (pickle/joblib are refused)")
    register.add_argument("--framework", required=True)
    register.add_argument("--framework-version")
    register.add_argument("--intended-use", required=True)
    register.add_argument("--dataset", action="append", type=dataset_link, default=[],
                          metavar="ROLE=KEY@VERSION", help="repeatable, e.g. train=loans@3")
    register.add_argument("--metric", action="append", type=metric_claim, default=[],
                          metavar="NAME=VALUE@ROLE", help="repeatable, e.g. auc=0.91@test")
    register.add_argument("--parent", type=int, help="the version this one corrects")
    register.add_argument("--developer", action="append", default=[], metavar="USERNAME",
                          help="a person who developed the version; repeatable (default: you, if you are a "
                               "person; nobody for a service account's key)")
    register.add_argument("--repository", help="training code repository URL")
    register.add_argument("--commit", help="training code commit")
    register.add_argument("--hyperparameters", type=json_value, help="JSON object")
    register.add_argument("--features", type=json_value, help="JSON array of feature names")
    register.add_argument("--library-versions", type=json_value, help='JSON object, e.g. {"scikit-learn": "1.5.2"}')
    register.add_argument("--limitations")
    register.add_argument("--out-of-scope-uses")

    dataset = commands.add_parser("dataset", help="datasets and dataset versions").add_subparsers(
        dest="action", required=True)
    command(dataset, "list", cmd_dataset_list, "list datasets").add_argument("--team")
    created = command(dataset, "create", cmd_dataset_create, "create a dataset owned by a team")
    created.add_argument("key")
    created.add_argument("--name", required=True)
    created.add_argument("--team", required=True)
    created.add_argument("--source-system", default="")
    created.add_argument("--description", default="")
    command(dataset, "get", cmd_dataset_get, "show a dataset, or one version with @N").add_argument(
        "dataset", type=dataset_reference, metavar="KEY[@N]")
    dataset_versions = command(dataset, "versions", cmd_dataset_versions, "list a dataset's versions")
    dataset_versions.add_argument("key")
    dataset_versions.add_argument("--sha256")
    registered = command(dataset, "register", cmd_dataset_register, "register the next version of a dataset")
    registered.add_argument("key")
    registered.add_argument("--file", help="CSV or Parquet file: hashed, uploaded, schema and rows read from it")
    registered.add_argument("--sha256", help="content SHA-256 (required without --file)")
    registered.add_argument("--rows", type=int)
    registered.add_argument("--schema", type=json_value, help='JSON, e.g. [{"name": "age", "type": "integer"}]')
    registered.add_argument("--personal-data", action="store_true")
    registered.add_argument("--special-category-data", action="store_true")
    registered.add_argument("--special-category-justification")
    registered.add_argument("--protected-attribute", action="append", metavar="COLUMN")
    registered.add_argument("--legal-basis", help="GDPR Art. 6(1) letter, a-f")
    registered.add_argument("--retention-until", help="YYYY-MM-DD")
    registered.add_argument("--datasheet", action="append", type=key_value, metavar="FIELD=TEXT")
    registered.add_argument("--derived-from", action="append", type=dataset_version_reference, metavar="KEY@N",
                            help="a dataset version this one was derived from (repeatable, at most 50)")

    deployment = commands.add_parser("deployment", help="deployments").add_subparsers(dest="action", required=True)
    recorded = command(deployment, "record", cmd_deployment_record, "record that a version now runs somewhere")
    recorded.add_argument("--model", required=True, type=model_reference, metavar="USE_CASE/MODEL@N")
    recorded.add_argument("--environment", required=True)
    recorded.add_argument("--pipeline-run", default="")
    deployments = command(deployment, "list", cmd_deployment_list, "list deployments")
    deployments.add_argument("--environment")
    deployments.add_argument("--status")

    review = commands.add_parser("review", help="risk reviews").add_subparsers(dest="action", required=True)
    submit = command(review, "submit", cmd_review_submit,
                     "submit a model version for review; with --wait, show check progress and exit 0 if every "
                     "check passed, 1 if one failed or the review was rejected")
    submit.add_argument("--model", required=True, type=model_reference, metavar="USE_CASE/MODEL[@N]")
    submit.add_argument("--version", type=int, help="the version number (or @N in --model)")
    submit.add_argument("--env", required=True, help="target environment, e.g. production")
    submit.add_argument("--label-column", default="", help="label column of the version's test dataset")
    submit.add_argument("--positive-label", default="1", help="label value meaning positive (default 1)")
    submit.add_argument("--doc", action="append", type=key_value, default=[], metavar="FIELD=TEXT",
                        help="documentation the policy requires, e.g. human_oversight=...; repeatable")
    submit.add_argument("--previous-case", type=int, help="the review that requested changes (resubmission)")
    submit.add_argument("--wait", action="store_true", help="wait for the checks, showing their progress")
    submit.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait (exit 2 after)")
    submit.add_argument("--interval", type=float, default=2.0, help="seconds between polls")
    status = command(review, "status", cmd_review_status,
                     "show a review and its checks; exit 1 if a check failed or the review was rejected")
    status.add_argument("case", type=int, metavar="REVIEW_ID")
    reviews = command(review, "list", cmd_review_list, "list reviews, newest first")
    reviews.add_argument("--status")
    reviews.add_argument("--env")
    reviews.add_argument("--limit", type=int, default=50)

    gate = commands.add_parser("gate", help="the promotion gate").add_subparsers(dest="action", required=True)
    gate_check = command(gate, "check", cmd_gate_check,
                         "ask whether an artifact may be deployed: exit 0 allow, 1 deny (reasons printed), "
                         "2 usage or connection error")
    gate_check.add_argument("--model", required=True, type=model_reference, metavar="USE_CASE/MODEL[@N]")
    gate_check.add_argument("--version", type=int, help="the version number (or @N in --model)")
    gate_check.add_argument("--artifact", required=True, help="the artifact file to deploy, or its SHA-256")
    gate_check.add_argument("--env", required=True, help="target environment, e.g. production")
    gate_check.add_argument("--context", action="append", type=key_value, default=[], metavar="KEY=VALUE",
                            help="pipeline facts recorded with the decision (CI variables are added); repeatable")
    gate_check.add_argument("--attestation-out", metavar="FILE", help="write the signed attestation (DSSE) here")
    verify_attestation = command(gate, "verify-attestation", cmd_gate_verify_attestation,
                                 "verify a gate attestation: exit 0 valid, 1 invalid")
    verify_attestation.add_argument("file", help="the DSSE envelope --attestation-out wrote")
    verify_attestation.add_argument("--key", action="append", default=[], metavar="VKEY",
                                    help="gate verifier key (default: fetched from the server's /api/v1/gate/keys)")
    verify_attestation.add_argument("--artifact", help="also require it to be about this file or SHA-256")

    report = commands.add_parser("report", help="compliance documents and evidence packs").add_subparsers(
        dest="action", required=True)
    generate = command(report, "generate", cmd_report_generate,
                       "ask for a document; with --wait or --out, wait for it (exit 1 if it failed)")
    generate.add_argument("--kind", required=True, choices=["annex_iv", "model_card", "validation_report",
                                                            "audit_extract", "model_inventory", "evidence_pack"])
    generate.add_argument("--model", type=model_reference, metavar="USE_CASE/MODEL@N",
                          help="the model version (annex_iv, model_card)")
    generate.add_argument("--use-case", help="the use case (evidence_pack)")
    generate.add_argument("--review", type=int, help="the review id (validation_report, evidence_pack)")
    generate.add_argument("--subject-type", help="audit_extract: e.g. registry.modelversion")
    generate.add_argument("--subject-id", help="audit_extract: the subject's id")
    generate.add_argument("--since", help="audit_extract: ISO 8601 time with zone")
    generate.add_argument("--until", help="audit_extract: ISO 8601 time with zone")
    generate.add_argument("--checkpoint", type=int, help="reflect this signed checkpoint (tree size)")
    generate.add_argument("--wait", action="store_true", help="wait until it is generated, showing progress")
    generate.add_argument("--out", metavar="FILE", help="download it here once generated (implies --wait)")
    generate.add_argument("--timeout", type=float, default=600.0, help="seconds to wait (exit 2 after)")
    generate.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    command(report, "status", cmd_report_status, "show a document's status, SHA-256 and audit facts").add_argument(
        "document", type=int, metavar="DOCUMENT_ID")
    download = command(report, "download", cmd_report_download, "download a document and check its SHA-256")
    download.add_argument("document", type=int, metavar="DOCUMENT_ID")
    download.add_argument("--out", required=True, metavar="FILE")
    command(report, "list", cmd_report_list, "list the documents you may see").add_argument(
        "--limit", type=int, default=50)

    lineage = commands.add_parser("lineage", help="lineage queries and inquiries").add_subparsers(
        dest="action", required=True)
    for direction in ("upstream", "downstream"):
        walk = command(lineage, direction, cmd_lineage_walk, f"what is {direction} of a node, as of a time")
        for name in LINEAGE_STARTS:
            walk.add_argument(f"--{name.replace('_', '-')}", dest=name, type=str if name == "dataset" else int,
                              help="dataset key" if name == "dataset" else f"{name.replace('_', ' ')} id")
        walk.add_argument("--depth", type=int, help="1 to 10 edges (default 3)")
        walk.add_argument("--as-of", help="ISO 8601 time with zone (default now)")
    window = command(lineage, "window", cmd_lineage_window,
                     "deployments in an environment that depended on a dataset between two times")
    window.add_argument("--dataset", help="dataset key (all versions)")
    window.add_argument("--dataset-version", type=int, help="dataset version id")
    window.add_argument("--node", type=int, help="lineage node id")
    window.add_argument("--environment", required=True)
    window.add_argument("--start", required=True, help="ISO 8601 time with zone")
    window.add_argument("--end", required=True, help="ISO 8601 time with zone")
    behind = command(lineage, "behind", cmd_lineage_behind,
                     "what was behind a use case's decisions at a time (version, approval, datasets)")
    behind.add_argument("use_case", metavar="USE_CASE")
    behind.add_argument("--at", required=True, help="ISO 8601 time with zone")
    behind.add_argument("--environment", default="production")
    inquiry = lineage.add_parser("inquiry", help="saved inquiries").add_subparsers(dest="inquiry_action",
                                                                                   required=True)
    save = command(inquiry, "save", cmd_lineage_inquiry_save, "run and save an inquiry (who asked, why)")
    save.add_argument("--kind", required=True, choices=["upstream", "downstream", "window", "behind"])
    save.add_argument("--param", action="append", type=key_value, default=[], metavar="KEY=VALUE",
                      help="a query parameter, e.g. deployment=12, depth=5, as_of=2026-03-03T00:00:00Z")
    save.add_argument("--requester", required=True, help="who asked (regulator, court, data subject)")
    save.add_argument("--reason", required=True, help="why the inquiry is run")
    save.add_argument("--pdf", metavar="FILE", help="also render the PDF and write it here")
    pdf = command(inquiry, "pdf", cmd_lineage_inquiry_pdf, "render (once) and download an inquiry's PDF")
    pdf.add_argument("inquiry", type=int, metavar="INQUIRY_ID")
    pdf.add_argument("--out", required=True, metavar="FILE")

    audit = commands.add_parser("audit", help="the audit log").add_subparsers(dest="action", required=True)
    verify = audit.add_parser("verify", add_help=False,
                              help="verify an evidence pack offline (see `docket audit verify --help`)")
    verify.set_defaults(handler=None)
    return parser


def main(argv: Sequence[str] | None = None, *, client_factory=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["audit", "verify"]:
        from apps.audit.verifier import main as verify_main

        return verify_main(argv[2:])
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return EXIT_OK if exit_.code in (0, None) else EXIT_USAGE
    client_factory = client_factory or DocketClient.from_environment
    as_json = getattr(args, "json", False)
    try:
        # A handler may add an exit code for the outcome it reports (e.g. a review that failed a check).
        data, text, *outcome = args.handler(args, client_factory)
    except UsageError as exc:
        print(f"docket: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DocketConfigurationError as exc:
        print(f"docket: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DocketConnectionError as exc:
        print(f"docket: {exc.detail}", file=sys.stderr)
        return EXIT_USAGE
    except DocketError as exc:
        if as_json:
            _print_json({"status": exc.status, **exc.problem})
        else:
            print(f"docket: refused ({exc.status} {exc.kind}): {exc.detail}", file=sys.stderr)
            for field, messages in exc.errors.items():
                print(f"  {field}: {messages if isinstance(messages, str) else json.dumps(messages)}",
                      file=sys.stderr)
        return EXIT_USAGE if exc.status >= 500 else EXIT_REFUSED
    except OSError as exc:
        print(f"docket: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if as_json:
        _print_json(data)
    else:
        print(text)
    return outcome[0] if outcome else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
