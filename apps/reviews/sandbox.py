"""Runs a model-executing check in a separate process with memory, CPU-time and wall-clock limits.

The child (`python -m apps.reviews.checks.runner`) gets its request as JSON on stdin and answers in
JSON on stdout; the parent never unpickles anything it sends. A child that crashes, is killed by its
limits or answers nonsense yields a SandboxFailure with a reason a reviewer can read; the worker
process itself is never affected.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class SandboxFailure(Exception):
    """The check process failed; the message says why."""


@dataclass(frozen=True)
class Limits:
    memory_bytes: int
    cpu_seconds: int
    wall_seconds: float


@dataclass
class SandboxAnswer:
    result: dict
    plots: dict[str, bytes] = field(default_factory=dict)
    library_versions: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def run_check_process(request: dict, *, limits: Limits, runner_module: str = "apps.reviews.checks.runner") -> SandboxAnswer:
    """Runs one check request in a limited child process and returns its answer."""
    env = {
        key: value for key, value in os.environ.items()
        if key in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV")
    }
    env.update({
        "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "NUMBA_CACHE_DIR": os.environ.get("TMPDIR", "/tmp"),
        "MPLCONFIGDIR": os.environ.get("TMPDIR", "/tmp"),
        # The runner applies these to itself (RLIMIT_AS, RLIMIT_CPU) before it imports anything heavy.
        "DOCKET_SANDBOX_MEMORY_BYTES": str(limits.memory_bytes), "DOCKET_SANDBOX_CPU_SECONDS": str(limits.cpu_seconds),
        # ... and dies with this process (see runner.die_with_parent), so no model outlives its worker.
        "DOCKET_SANDBOX_PARENT_PID": str(os.getpid()),
    })
    process = subprocess.Popen(
        [sys.executable, "-m", runner_module], cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(json.dumps(request).encode("utf-8"), timeout=limits.wall_seconds)
    except subprocess.TimeoutExpired:
        _kill(process)
        raise SandboxFailure(
            f"The check exceeded its wall-clock limit of {limits.wall_seconds:g} s and was stopped."
        ) from None
    except BaseException:
        # E.g. Celery's soft time limit: never leave the model process running behind us.
        _kill(process)
        raise
    code = process.returncode
    if code == -signal.SIGXCPU or code == -signal.SIGKILL and _cpu_limit_hit(stderr):
        raise SandboxFailure(f"The check exceeded its CPU-time limit of {limits.cpu_seconds} s and was stopped.")
    try:
        answer = json.loads(stdout.decode("utf-8")) if stdout else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        answer = None
    if not isinstance(answer, dict):
        tail = stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        if code is not None and code < 0:
            reason = f"was killed by signal {signal.Signals(-code).name}"
        else:
            reason = f"exited with status {code}"
        memory_hint = " (it exceeded its memory limit)" if "memory" in " ".join(tail).lower() else ""
        raise SandboxFailure(f"The model process {reason}{memory_hint}: {' | '.join(tail)[-500:]}")
    if not answer.get("ok"):
        raise SandboxFailure(str(answer.get("error") or "The check failed without a reason."))
    return SandboxAnswer(
        result=answer["result"],
        plots={name: base64.b64decode(data) for name, data in (answer.get("plots") or {}).items()},
        library_versions=answer.get("library_versions") or {},
        seconds=float(answer.get("seconds") or 0.0),
    )


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.communicate()


def _cpu_limit_hit(stderr: bytes) -> bool:
    return b"CPU time limit" in stderr
