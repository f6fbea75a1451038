"""The layers hold: what importing each entry point loads (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAB_CORE = (
    "aiv/pipeline",
    "aiv/store",
    "aiv/search",
    "aiv/codec",
    "aiv/video",
    "aiv/metrics",
    "aiv/aws",
    "aiv/runner.py",
    "aiv/cascade.py",
    "aiv/evaluate.py",
    "aiv/local.py",
    "aiv/read_model.py",
    "aiv/liveness.py",
    "aiv/names.py",
    "aiv/candidate_loop.py",
    "aiv/cost_arithmetic.py",
    "aiv/results.py",
    "aiv/settings.py",
)


def loaded_after(*modules: str) -> set[str]:
    """The names in sys.modules after importing `modules` in a new interpreter."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}:\n    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_the_stacks_load_neither_numpy_nor_the_pipeline():
    stacks = sorted(f"stacks.{path.stem}" for path in (ROOT / "stacks").glob("*.py") if path.stem != "__init__")
    assert "stacks.pipeline" in stacks and "stacks.storage" in stacks
    loaded = loaded_after(*stacks)
    assert "aws_cdk" in loaded and "aiv.names" in loaded and "aiv.candidate_loop" in loaded
    assert "numpy" not in loaded
    assert not {
        name
        for name in loaded
        if name.startswith(("aiv.pipeline", "aiv.search", "aiv.runner", "aiv.cascade", "aiv.evaluate"))
    }


def test_the_dashboard_app_loads_neither_the_cli_nor_the_runner():
    loaded = loaded_after("aiv.web.app")
    assert "aiv.web.views" in loaded and "aiv.read_model" in loaded and "aiv.liveness" in loaded
    assert not {
        name
        for name in loaded
        if name.startswith(("aiv.commands", "aiv.cli", "aiv.runner", "aiv.pipeline", "aiv.cascade"))
    }


def test_nothing_in_the_lab_core_imports_the_web_package():
    importers = []
    for entry in LAB_CORE:
        path = ROOT / entry
        for source in [path] if path.is_file() else path.rglob("*.py"):
            text = source.read_text()
            if "aiv.web" in text or "from aiv import web" in text:
                importers.append(str(source.relative_to(ROOT)))
    assert importers == []
