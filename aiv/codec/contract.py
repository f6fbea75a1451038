"""The codec contract: finding a candidate's source and checking what its decoder returned.

A candidate is one Python module defining
    encode(y, u, v, fps: float, quality: float) -> bytes
    decode(bitstream: bytes) -> tuple[y, u, v]
with uint8 planes y [T, H, W] and u, v [T, H/2, W/2]. See docs/codec-contract.md.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from aiv.codec.builtin import BUILTIN_CODECS
from aiv.errors import CodecFailure, UsageError


@dataclass(frozen=True)
class CodecSource:
    """A candidate codec's module text and where it came from."""

    name: str
    source: str
    origin: str  # a file path, or "builtin:<name>"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()

    @property
    def file_name(self) -> str:
        """The module's file name as the researcher knows it: the file given, else `<name>.py`."""
        return Path(self.origin).name if self.origin.endswith(".py") else f"{self.name}.py"


def builtin_source(name: str) -> CodecSource:
    """The source of a built-in reference codec by name."""
    if name not in BUILTIN_CODECS:
        raise UsageError(f"unknown built-in codec {name!r}; built-ins: {', '.join(BUILTIN_CODECS)}")
    text = resources.files("aiv.codec.builtin").joinpath(f"{name}.py").read_text()
    return CodecSource(name=name, source=text, origin=f"builtin:{name}")


def load_codec(spec: str) -> CodecSource:
    """A codec from a `.py` path or a built-in name."""
    path = Path(spec)
    if spec.endswith(".py") or path.exists():
        if not path.is_file():
            raise UsageError(f"codec file {spec} does not exist")
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"codec file {spec} cannot be read: {exc}") from exc
        return CodecSource(name=path.stem, source=text, origin=str(path))
    return builtin_source(spec)


def check_decoded(
    source: tuple[np.ndarray, np.ndarray, np.ndarray], decoded: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> None:
    """Raise CodecFailure(stage="check") unless `decoded` has exactly the source's shapes and dtype."""
    for plane, want, got in zip("yuv", source, decoded):
        if not isinstance(got, np.ndarray):
            raise CodecFailure("check", f"decode returned {type(got).__name__} for plane {plane}, not a numpy array")
        if got.dtype != np.uint8:
            raise CodecFailure("check", f"decode returned plane {plane} as {got.dtype}, expected uint8")
        if got.shape != want.shape:
            what = "frame count" if got.ndim == 3 and got.shape[1:] == want.shape[1:] else "shape"
            raise CodecFailure("check", f"decode returned plane {plane} with {what} {got.shape}, expected {want.shape}")
