"""The folder where the processes of one host leave their Prometheus
metrics (``PROMETHEUS_MULTIPROC_DIR``). Imports neither Django nor
prometheus_client: gunicorn's master calls it before any worker exists."""

from __future__ import annotations

import os
from pathlib import Path


def start_afresh(folder: str | os.PathLike) -> None:
    """Create the folder and remove the files of processes no longer running
    (what an earlier run counted); a running process's files stay, since it
    keeps writing to them (a Celery worker of the host, when gunicorn restarts)."""
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    for file in path.glob("*.db"):
        pid = file.stem.rpartition("_")[2]
        if not (pid.isdigit() and _running(int(pid))):
            file.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
