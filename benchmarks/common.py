"""What every benchmark's measured child process shares.

Why: each measured run is a fresh child process (its own peak RSS), and a child must not pay for
compiling its imports: with PYTHONDONTWRITEBYTECODE set (as on CI machines) every child recompiled
dlt and friends, ~3 s of a 9 s run. A deployed install has its .pyc files, so the children share a
private bytecode cache, warmed by one untimed run.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path


def child_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(Path(tmp) / "pycache"), **extra}
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
    return out
