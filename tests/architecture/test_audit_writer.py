"""Only apps/audit/services.py writes the audit log's tables (ADR 0001: one audit writer)."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOG_MODELS = {"AuditEntry", "TreeNode", "Checkpoint", "Cosignature", "SigningKey"}
LOG_TABLES = re.compile(r"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE)\s+\"?audit_(auditentry|treenode|checkpoint|cosignature|signingkey)", re.IGNORECASE)
WRITER = ROOT / "apps" / "audit" / "services.py"
WRITE_METHODS = {"create", "bulk_create", "get_or_create", "update_or_create", "append_integrated", "end_validity", "save"}


def _application_sources():
    for path in sorted((ROOT / "apps").rglob("*.py")):
        if "migrations" in path.parts or path == WRITER:
            continue
        yield path


def _imported_log_models(tree: ast.AST, path: Path | None) -> set[str]:
    """Names of log models the module imports from the audit app's models (a same-named class elsewhere,
    such as the verifier's Checkpoint dataclass, is not a log model)."""
    in_audit = path is None or "audit" in path.parts
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (
            node.module == "apps.audit.models" or (node.level and in_audit and node.module == "models")
        ):
            names |= {alias.asname or alias.name for alias in node.names if alias.name in LOG_MODELS}
    return names


def _log_model_writes(tree: ast.AST, source: str, path: Path | None = None) -> list[str]:
    """Constructor calls of log models, and write methods called on them or their managers."""
    models = _imported_log_models(tree, path)
    problems = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in models:
            problems.append(f"line {node.lineno}: {func.id}(...)")
        if isinstance(func, ast.Attribute) and func.attr in WRITE_METHODS:
            receiver = ast.get_source_segment(source, func.value) or ""
            if any(re.search(rf"\b{model}\b", receiver) for model in models):
                problems.append(f"line {node.lineno}: {receiver}.{func.attr}(...)")
    return problems


def test_only_the_audit_services_module_creates_or_changes_log_rows():
    offenders = []
    for path in _application_sources():
        source = path.read_text(encoding="utf-8")
        relative = path.relative_to(ROOT)
        if relative.as_posix() == "apps/audit/models.py":
            continue  # defines the models and their refusals
        offenders += [f"{relative} {problem}" for problem in _log_model_writes(ast.parse(source), source, path)]
        offenders += [f"{relative}: raw SQL {match.group(0)!r}" for match in LOG_TABLES.finditer(source)]
    assert offenders == [], "Only apps/audit/services.py may write the audit log:\n" + "\n".join(offenders)


def test_the_scan_would_catch_a_write_outside_the_writer():
    source = "from apps.audit.models import AuditEntry\nAuditEntry.objects.create(index=1)\nAuditEntry(index=2).save()\n"
    problems = _log_model_writes(ast.parse(source), source)
    assert problems == [
        "line 2: AuditEntry.objects.create(...)", "line 3: AuditEntry(index=2).save(...)", "line 3: AuditEntry(...)"
    ]
    assert LOG_TABLES.search('cursor.execute("UPDATE audit_auditentry SET data = 1")')


def test_services_call_record_inside_their_own_transaction():
    """Every services.py that calls record() opens transaction.atomic in the same module."""
    missing = []
    for path in sorted((ROOT / "apps").glob("*/services.py")):
        if path == WRITER:
            continue
        source = path.read_text(encoding="utf-8")
        if "record(" in source and "transaction.atomic" not in source:
            missing.append(str(path.relative_to(ROOT)))
    assert missing == []
