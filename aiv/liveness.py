"""Whether a run is still working: its registration (state "run:<id>") and heartbeat.

A run rewrites its registration every HEARTBEAT_S seconds; one whose heartbeat is older than
STALE_AFTER_S, or whose process is gone on this host, is dead.
"""

from __future__ import annotations

import os
import socket
import time
from datetime import datetime

from aiv.store.runs import RunState

HEARTBEAT_S = 20.0
STALE_AFTER_S = 180.0  # a run whose heartbeat is older than this is dead


def run_is_alive(run: RunState | None) -> bool:
    """Whether a run's registration says it is still working."""
    if run is None or run.status != "running":
        return False
    if run.host == socket.gethostname():
        try:
            os.kill(run.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
    age = time.time() - datetime.fromisoformat(run.heartbeat_at).timestamp()
    return age < STALE_AFTER_S
