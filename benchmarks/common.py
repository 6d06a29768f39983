"""What every benchmark's measured child process shares.

Why: each measured run is a fresh child process (its own peak RSS), and a child must not pay for
compiling its imports: with PYTHONDONTWRITEBYTECODE set (as on CI machines) every child recompiled
dlt and friends, ~3 s of a 9 s run. A deployed install has its .pyc files, so the children share a
private bytecode cache, warmed by one untimed run.
"""

from __future__ import annotations

import hashlib
import os
import platform
import statistics
import time
from pathlib import Path

# The same code measured 2.3x faster on one 2-core machine than on another the same day (CAMT
# landing 6.30 s vs 2.76 s): results from different machines compare only through this number.
_CALIBRATION_BYTES = b"\x5a" * (32 * 2**20)


def child_env(tmp: Path, **extra: str) -> dict[str, str]:
    """A measured child's environment: this process's, the shared bytecode cache, `extra`, and the
    pipeline's telemetry opt-outs where the caller's environment does not set them (as
    `connectors.settings.apply_offline_defaults` does in every pipeline process). Without them the
    dbt child of benchmarks.scale and benchmarks.incremental ran with dbt's anonymous usage
    tracking on: 79 snowplow events per 1M-lead build, sent towards the internet, which the
    pipeline never does."""
    from connectors.settings import OFFLINE_DEFAULTS

    env = {**OFFLINE_DEFAULTS, **os.environ, "PYTHONPYCACHEPREFIX": str(Path(tmp) / "pycache"), **extra}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def machine(*dists: str) -> dict:
    """Cores, memory, Python and the named distributions' versions, for the results file."""
    from importlib.metadata import version

    out: dict = {"cores": os.cpu_count(), "python": platform.python_version()}
    for dist in dists:
        try:
            out[dist] = version(dist)
        except Exception:  # noqa: BLE001
            out[dist] = None
    try:
        out["memory_gib"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    out["load_average_1m"] = round(os.getloadavg()[0], 2)  # other work on the machine skews wall time
    out["cpu_calibration_s"] = cpu_calibration()
    return out


def cpu_calibration(repeat: int = 5) -> float:
    """Median seconds of a fixed single-core workload (an interpreter loop plus a sha256 of 32 MiB);
    divide a result's seconds by it to compare machines."""
    def once() -> float:
        started = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i * i % 7
        hashlib.sha256(_CALIBRATION_BYTES).digest()
        return time.perf_counter() - started

    return round(statistics.median(once() for _ in range(repeat)), 4)
