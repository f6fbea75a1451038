"""Whether a run is still working: its registration (state "run:<id>") and heartbeat.

A run rewrites its registration every HEARTBEAT_S seconds; one whose heartbeat is older than
STALE_AFTER_S, or whose process is gone on this host, is dead.
"""

from __future__ import annotations

import os
import socket
import time
from datetime import datetime

HEARTBEAT_S = 20.0
STALE_AFTER_S = 180.0  # a run whose heartbeat is older than this is dead


def run_is_alive(state: dict | None) -> bool:
    """Whether a run's registration says it is still working."""
    if not state or state.get("status") != "running":
        return False
    if state.get("host") == socket.gethostname():
        try:
            os.kill(state["pid"], 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
    age = time.time() - datetime.fromisoformat(state["heartbeat_at"]).timestamp()
    return age < STALE_AFTER_S
