"""The GPU runner's image (gpu_runner/Dockerfile) runs the versions the lab is tested with."""

from __future__ import annotations

import re
from pathlib import Path

from aiv.provenance import tool_versions

ROOT = Path(__file__).resolve().parents[2]


def pins(path: Path) -> dict[str, str]:
    """{package: version} of the `name==version` lines of a requirements file."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s#]+)", line.split("#")[0].strip())
        if match:
            found[match.group(1).lower()] = match.group(3)
    return found


def test_every_package_of_the_image_is_pinned_as_the_lab_pins_it():
    image, lab = pins(ROOT / "gpu_runner" / "requirements.txt"), pins(ROOT / "requirements.txt")
    assert "torch" in image and image["torch"] == lab["torch"]  # one torch for the tests and the GPU
    assert {name: version for name, version in image.items() if lab.get(name) != version} == {}


def test_the_image_takes_torch_from_the_requirements_not_from_its_base():
    dockerfile = (ROOT / "gpu_runner" / "Dockerfile").read_text()
    [base] = re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    assert "torch" not in base  # a PyTorch base image would bring its own torch version
    assert "pip install --requirement gpu_runner/requirements.txt" in dockerfile


def test_the_result_records_the_torch_version():
    assert tool_versions()["torch"].split("+")[0] == pins(ROOT / "requirements.txt")["torch"]
