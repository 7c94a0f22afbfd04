"""Entry point of the sandboxed check process: `python -m apps.reviews.checks.runner`.

Reads one JSON request on stdin, loads the model safely, runs one model-executing check and writes
one JSON answer on stdout: {"ok": true, "result": {...}, "plots": {name: base64 PNG}} or
{"ok": false, "error": "..."}. The memory and CPU limits the parent passes in the environment are applied before anything else.
"""

from __future__ import annotations

import base64
import importlib.metadata
import json
import math
import os
import resource
import sys
import time
import traceback

LIBRARIES = ("numpy", "pandas", "scikit-learn", "skops", "onnxruntime", "shap", "fairlearn", "matplotlib", "scipy")


def library_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _progress(percent: int, message: str) -> None:
    """Progress lines on stderr; the parent shows the latest one."""
    print(f"PROGRESS {percent} {message}", file=sys.stderr, flush=True)


def run(request: dict) -> tuple[dict, dict[str, bytes]]:
    import numpy as np

    from . import explainability, fairness, loading, performance

    kind = request["kind"]
    _progress(5, "loading the model")
    model = loading.load_model(request["model"]["path"], request["model"]["format"], request["model"]["trusted_types"])
    features, label, positive = request["features"], request["label_column"], request["positive_label"]
    evaluations = {}
    for key, data in request["datasets"].items():
        _progress(20, f"predicting on {key}")
        table = loading.read_table(data["path"], data["format"])
        evaluations[key] = loading.evaluate(model, table, features=features, label_column=label, positive_label=positive)
    evaluation_key = request["evaluation_dataset"]
    thresholds = request["thresholds"]
    sample_sizes = {key: int(len(evaluation.y_true)) for key, evaluation in evaluations.items()}
    _progress(40, f"computing {kind}")
    plots: dict[str, bytes] = {}
    if kind == "fairness":
        evaluation = evaluations[evaluation_key]
        result = fairness.assess(evaluation.table, evaluation.y_true, evaluation.y_pred,
                                 protected_attributes=request["protected_attributes"], thresholds=thresholds)
    elif kind == "performance":
        result = performance.assess(evaluations, request["claims"], evaluation_key=evaluation_key,
                                    thresholds=thresholds)
    elif kind == "explainability":
        evaluation = evaluations[evaluation_key]
        classes = list(getattr(model, "classes_", [0, 1]))
        matches = [i for i, value in enumerate(classes) if loading.is_positive([value], positive)[0]]
        result = explainability.explain(
            model, evaluation.features, feature_names=features or list(getattr(model, "feature_names_in_", [])),
            positive_index=matches[0] if matches else len(classes) - 1, thresholds=thresholds,
            seed=request["seed"],
        )
        plots = result.pop("plots")
        sample_sizes["shap_sample"] = result["sample_size"]
        if not result["additivity_ok"] and thresholds.get("fail_on_additivity_error", True):
            result["reasons"] = [f"SHAP additivity check failed: {result['additivity_error']}"]
        else:
            result["reasons"] = []
    else:
        raise ValueError(f"unknown check kind {kind!r}")
    result["sample_sizes"] = sample_sizes
    result["positive_rate_predicted"] = {
        key: float(np.mean(evaluation.y_pred)) for key, evaluation in evaluations.items()
    }
    _progress(95, "writing results")
    return result, plots


def apply_limits() -> None:
    """Applies the limits the parent passed, before any model code or heavy library is loaded."""
    memory = int(os.environ.get("DOCKET_SANDBOX_MEMORY_BYTES", "0"))
    cpu = int(os.environ.get("DOCKET_SANDBOX_CPU_SECONDS", "0"))
    if memory > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    if cpu > 0:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def die_with_parent() -> None:
    """Asks Linux to kill this process when the worker that started it dies (even by SIGKILL), so a
    check never outlives its worker and the worker's wall-clock limit."""
    parent = int(os.environ.get("DOCKET_SANDBOX_PARENT_PID", "0"))
    if not parent or not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the worker died before the signal was armed
        os._exit(1)


def main() -> int:
    die_with_parent()
    apply_limits()
    started = time.perf_counter()
    try:
        request = json.loads(sys.stdin.read())
        result, plots = run(request)
        answer = {
            "ok": True,
            "result": result,
            "plots": {name: base64.b64encode(data).decode("ascii") for name, data in plots.items()},
            "library_versions": library_versions(),
            "seconds": time.perf_counter() - started,
        }
        code = 0
    except MemoryError:
        answer, code = {"ok": False, "error": "The check ran out of memory (it exceeded its memory limit)."}, 3
    except Exception as exc:  # noqa: BLE001 - every failure of untrusted model code becomes an answer
        last = traceback.extract_tb(exc.__traceback__)[-1:] or []
        where = f" (at {os.path.basename(last[0].filename)}:{last[0].lineno})" if last else ""
        answer, code = {"ok": False, "error": f"{type(exc).__name__}: {exc}{where}"}, 1
    sys.stdout.write(json.dumps(_finite(answer), allow_nan=False, default=_json_default))
    sys.stdout.flush()
    return code


def _finite(value):
    """NaN and infinities (e.g. an undefined AUC) become null: JSON has no place for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


if __name__ == "__main__":
    sys.exit(main())
