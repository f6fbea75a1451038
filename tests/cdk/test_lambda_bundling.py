"""stacks/bundling.py: the Lambda code folder and the GPU image's build context."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacks.bundling import GPU_IMAGE_FILES, BundlingError, stage_lambda_code

from .cdk_app import ROOT


def test_copy_only_stages_the_handlers_beside_the_lab_package(tmp_path):
    staged = stage_lambda_code(tmp_path / "code", "copy-only")
    handlers = sorted(path.name for path in (ROOT / "functions").glob("*.py"))
    assert handlers and all((staged / name).is_file() for name in handlers)
    step = Path("aiv", "pipeline", "proposing.py")
    assert (staged / step).read_bytes() == (ROOT / step).read_bytes()
    assert (staged / "aiv" / "store" / "table_design.py").is_file()
    assert not list(staged.rglob("__pycache__")) and not list(staged.rglob("*.pyc"))
    assert not (staged / "numpy").exists()  # copy-only installs nothing


def test_staging_replaces_a_previous_folder(tmp_path):
    target = tmp_path / "code"
    target.mkdir()
    (target / "stale.py").write_text("x = 1\n")
    stage_lambda_code(target, "copy-only")
    assert not (target / "stale.py").exists()


def test_staging_refuses_unknown_modes_and_missing_folders(tmp_path):
    with pytest.raises(BundlingError, match="'docker'"):
        stage_lambda_code(tmp_path / "a", "docker")
    with pytest.raises(BundlingError, match="functions"):
        stage_lambda_code(tmp_path / "b", "copy-only", root=tmp_path)


def test_full_mode_needs_the_functions_requirements(tmp_path):
    (tmp_path / "functions").mkdir()
    (tmp_path / "aiv").mkdir()
    with pytest.raises(BundlingError, match="requirements.txt"):
        stage_lambda_code(tmp_path / "code", "full", root=tmp_path)


def test_the_synthesized_functions_use_the_staged_folder(synth):
    staged = synth.outdir / "lambda-code"
    assert (staged / "propose.py").is_file() and (staged / "aiv").is_dir()
    for part in ("Pipeline", "Schedule", "Dashboard"):
        for function in synth.resources(part, "AWS::Lambda::Function").values():
            module = function["Properties"]["Handler"].split(".")[0]
            assert (staged / f"{module}.py").is_file()


def test_gpu_image_context_holds_what_the_dockerfile_copies():
    dockerfile = (ROOT / "gpu_runner" / "Dockerfile").read_text()
    sources = {
        source for line in dockerfile.splitlines() if line.startswith("COPY ") for source in line.split()[1:-1]
    }  # COPY <source>... <destination>
    assert sources and {source.split("/")[0] for source in sources} <= set(GPU_IMAGE_FILES)
    assert (ROOT / "gpu_runner" / "requirements.txt").is_file()


def test_every_log_group_keeps_its_retention_and_goes_with_its_stack(synth):
    groups = [
        group
        for part in ("Compute", "Pipeline", "Schedule", "Dashboard")
        for group in synth.resources(part, "AWS::Logs::LogGroup").values()
    ]
    assert len(groups) == 12  # flow logs, Batch job, 8 Lambdas, state machine, API access log
    for group in groups:
        assert group["Properties"]["RetentionInDays"] == synth.settings.log_retention_days
        assert group["DeletionPolicy"] == "Delete"
