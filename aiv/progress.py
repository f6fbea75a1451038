"""Progress for long work: a bar on a terminal, one line per step otherwise (logs, CI)."""

from __future__ import annotations

import sys
import time

from tqdm import tqdm


class Progress:
    """Counts steps of known total; each step's description shows what is being done now."""

    def __init__(self, total: int, label: str, enabled: bool = True):
        self._bar = None
        self._lines = enabled and not sys.stderr.isatty()
        self._done = 0
        self._total = total
        self._label = label
        self._started = time.monotonic()
        if enabled and not self._lines:
            self._bar = tqdm(total=total, desc=label, file=sys.stderr, unit="step", leave=False)

    def step(self, description: str) -> None:
        """Announce the step that starts now."""
        if self._bar is not None:
            self._bar.set_postfix_str(description, refresh=False)
            self._bar.update(0)
        elif self._lines:
            elapsed = time.monotonic() - self._started
            print(
                f"[{self._label} {self._done + 1}/{self._total} {elapsed:6.1f}s] {description}",
                file=sys.stderr,
                flush=True,
            )

    def advance(self) -> None:
        """Mark the current step done."""
        self._done += 1
        if self._bar is not None:
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
