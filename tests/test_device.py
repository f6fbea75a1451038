"""aiv/codec/device.py: the device candidates run on, chosen once before anything is measured."""

from __future__ import annotations

import pytest

from aiv.cli import main
from aiv.codec.device import resolve_device
from aiv.errors import UsageError

torch = pytest.importorskip("torch")
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")


@NO_CUDA
def test_cuda_is_chosen_only_where_torch_finds_a_device():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == "cpu"
    with pytest.raises(UsageError, match="device cuda: torch .* finds no CUDA device"):
        resolve_device("cuda")
    with pytest.raises(UsageError, match="device must be one of auto, cpu, cuda, got 'tpu'"):
        resolve_device("tpu")


@NO_CUDA
@pytest.mark.parametrize("command", [["evaluate", "hybrid", "--frames", "2"], ["run", "--iterations", "1"]])
def test_a_cuda_run_without_a_cuda_device_stops_before_anything_runs(command, tmp_path, capsys):
    assert (
        main([*command, "--device", "cuda", *(["--store", str(tmp_path / "lab")] if command[0] == "run" else [])]) == 2
    )
    assert "device cuda: torch" in capsys.readouterr().err
    assert not (tmp_path / "lab").exists()
