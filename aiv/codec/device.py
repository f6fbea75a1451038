"""Which device candidates run on: "cpu", or "cuda" where torch finds a CUDA device.

The sandbox tells each codec its device through the module attribute DEVICE (aiv/codec/sandbox_child.py);
`aiv evaluate`, `aiv run` and the Batch job choose it here, once, before anything is measured.
"""

from __future__ import annotations

from aiv.errors import UsageError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(requested: str) -> str:
    """`requested` as a device: "auto" is cuda where torch finds a CUDA device, else cpu.
    UsageError for an unknown name, or for cuda where there is none."""
    if requested not in DEVICE_CHOICES:
        raise UsageError(f"device must be one of {', '.join(DEVICE_CHOICES)}, got {requested!r}")
    if requested == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if requested == "cuda":
        raise UsageError(f"device cuda: torch {torch.__version__} finds no CUDA device on this machine")
    return "cpu"
