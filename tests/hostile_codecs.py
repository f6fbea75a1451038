"""The hostile codecs of tests/adversarial/ as module sources, for the sandbox tests and their unprivileged driver."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

ADVERSARIAL = Path(__file__).parent / "adversarial"
PAYLOAD_MARK = 'b"PAYLOAD"'


def codec(name: str) -> str:
    """A hostile codec's module source, with the shared packing helper appended when it uses it."""
    source = (ADVERSARIAL / f"{name}.py").read_text()
    if "_pack(" in source or "_unpack(" in source:
        source += (ADVERSARIAL / "packing.txt").read_text()
    return source


def embedded_codec(size: int) -> str:
    """The embedded_data codec carrying a payload that makes its module exactly `size` bytes."""
    template = codec("embedded_data")
    filler = size - len(template.replace(PAYLOAD_MARK, "").encode()) - 3  # b"" around the payload
    return template.replace(PAYLOAD_MARK, 'b"' + "x" * filler + '"')


def replayed_noisy_static(frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the rebuild_corpus codec draws from package files: noisy_static as a corpus with fixed seeds rendered it.

    The built-in corpus is now rendered from a per-store secret, so this is the clip the attack would
    have rebuilt exactly before; the tests use it to show the attack is real wherever package files are
    in view, and that the secret-rendered clip is not what it gives back.
    """
    namespace: dict = {}
    exec(compile(codec("rebuild_corpus"), "rebuild_corpus.py", "exec"), namespace)
    return namespace["decode"](struct.pack("<H", frames))
