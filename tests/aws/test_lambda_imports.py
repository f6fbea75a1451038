"""Every Lambda handler loads with functions/requirements.txt alone: no torch, OpenCV, PyAV or scikit-image, and
no third-party package that the requirements (with their dependencies) do not bring."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from awslab import ENV
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = sorted(p.stem for p in (ROOT / "functions").glob("*.py") if p.stem != "__init__")
HEAVY = ("torch", "cv2", "av", "skimage")
# Lambda's own runtime provides these; everything else must come from functions/requirements.txt.
RUNTIME = {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}
OPTIONAL = {"certifi"}  # botocore imports it when installed, else uses its own CA bundle

PROBE = """
import json, sys
from importlib import metadata
sys.path.insert(0, "functions")  # Lambda's layout: the handlers at the top of the code folder
before = set(sys.modules)
__import__(sys.argv[1])
names = {m.split(".")[0] for m in set(sys.modules) - before}
packages = metadata.packages_distributions()
print(json.dumps({"modules": sorted(names), "distributions": sorted({d for n in names for d in packages.get(n, [])})}))
"""


def imported_by(handler: str) -> dict:
    """The top-level modules and distributions importing functions/<handler>.py loads, in a fresh interpreter."""
    env = {**os.environ, **ENV}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, handler], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def closure(requirements: list[Requirement]) -> set[str]:
    """The distributions the requirements install, with their dependencies (extras not asked for left out)."""
    seen: set[str] = set()
    todo = list(requirements)
    while todo:
        requirement = todo.pop()
        name = requirement.name.lower().replace("_", "-")
        if name in seen or (requirement.marker and not requirement.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        todo += [Requirement(text) for text in metadata.requires(requirement.name) or []]
    return seen


def lambda_requirements() -> list[Requirement]:
    lines = (ROOT / "functions" / "requirements.txt").read_text().splitlines()
    return [Requirement(line.split("#")[0].strip()) for line in lines if line.split("#")[0].strip()]


def test_there_is_a_handler_per_step():
    assert HANDLERS == ["admin", "costs", "dashboard", "mark_failed", "propose", "record", "seed", "validate"]


def test_the_requirements_have_no_heavy_package():
    names = {r.name.lower() for r in lambda_requirements()}
    assert not names & {"torch", "opencv-python", "opencv-python-headless", "av", "scikit-image"}
    assert all(len(r.specifier) == 1 and str(r.specifier).startswith("==") for r in lambda_requirements())


@pytest.mark.parametrize("handler", HANDLERS)
def test_a_handler_loads_only_what_the_lambda_has(handler):
    loaded = imported_by(handler)
    assert not set(HEAVY) & set(loaded["modules"]), f"{handler} imports {set(HEAVY) & set(loaded['modules'])}"
    available = closure(lambda_requirements()) | RUNTIME | OPTIONAL
    missing = {d for d in loaded["distributions"] if d.lower().replace("_", "-") not in available} - {"aiv"}
    assert not missing, f"{handler} needs {sorted(missing)}, which functions/requirements.txt does not bring"
