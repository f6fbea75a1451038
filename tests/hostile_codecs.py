"""The hostile codecs of tests/adversarial/ as module sources, for the sandbox tests and their unprivileged driver."""

from __future__ import annotations

from pathlib import Path

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
