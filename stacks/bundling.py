"""How the lab's code reaches AWS: the Lambda code folder, the functions built on it, the GPU image.

Lambda code is one folder shared by every function: the handlers of functions/ at its top level
(handler "propose.handler"), the aiv/ package beside them, and, in bundling mode "full", the slim
requirements of functions/requirements.txt installed for Lambda's Python 3.12 on x86_64 with
`pip install --target --platform ... --only-binary=:all:`: no Docker, and wheels only, so nothing
is compiled on this machine. Mode "copy-only" skips pip (no network): tests synth with it; such
an app synths but its Lambdas would miss their dependencies, so never deploy it. Installed
requirements are cached under build/lambda-deps/<hash of the requirements file>.

The GPU runner's image is built by `cdk deploy` from gpu_runner/Dockerfile with the repository
root as its context; at synth CDK only copies the files the image needs into cdk.out (see
GPU_IMAGE_FILES), so synth needs no Docker.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Mapping

from aws_cdk import Duration, IgnoreMode, RemovalPolicy, Stack
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct

from aiv.names import METRICS_NAMESPACE
from stacks import acknowledge
from stacks.settings import LOG_RETENTION

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_PYTHON = "3.12"
# Lambda's Python 3.12 runs on Amazon Linux 2023 (glibc 2.34): manylinux2014 and manylinux_2_28 wheels fit it,
# and both are needed (numpy 2.4 publishes manylinux_2_27/2_28 wheels only).
LAMBDA_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64")
GPU_IMAGE_FILES = ("aiv", "gpu_runner", "pyproject.toml", "README.md")  # the Docker build context
_SKIPPED = ("__pycache__", "*.pyc")


class BundlingError(RuntimeError):
    """The Lambda code could not be staged (a missing folder, a failed pip install)."""


def stage_lambda_code(target: Path, mode: str, root: Path = REPO_ROOT) -> Path:
    """Build the Lambda code folder at `target` (replaced if present) and return it.

    `mode` is "full" (handlers + aiv + installed requirements) or "copy-only" (handlers + aiv).
    """
    functions, package = root / "functions", root / "aiv"
    for folder in (functions, package):
        if not folder.is_dir():
            raise BundlingError(f"the Lambda code needs {folder}, which does not exist")
    if target.exists():
        shutil.rmtree(target)
    if mode == "full":
        shutil.copytree(_installed_requirements(functions / "requirements.txt", root / "build" / "lambda-deps"), target)
    elif mode == "copy-only":
        target.mkdir(parents=True)
    else:
        raise BundlingError(f"bundling mode must be 'full' or 'copy-only', got {mode!r}")
    for handler in sorted(functions.glob("*.py")):
        shutil.copy2(handler, target / handler.name)
    shutil.copytree(package, target / "aiv", ignore=shutil.ignore_patterns(*_SKIPPED), dirs_exist_ok=True)
    return target


def _installed_requirements(requirements: Path, cache: Path) -> Path:
    """`requirements` installed for Lambda into a cached folder keyed by the file's content."""
    if not requirements.is_file():
        raise BundlingError(f"bundling mode 'full' needs {requirements}, which does not exist")
    recipe = " ".join((LAMBDA_PYTHON, *LAMBDA_PLATFORMS, "no-compile")).encode()
    key = hashlib.sha256(requirements.read_bytes() + recipe).hexdigest()[:16]
    folder, done = cache / key, cache / f"{key}.done"
    if done.exists() and folder.is_dir():
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    platforms = [arg for platform in LAMBDA_PLATFORMS for arg in ("--platform", platform)]
    # --no-compile: pip would write .pyc files for this interpreter's Python, useless to Lambda's 3.12.
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--target",
        str(folder),
        *platforms,
        "--implementation",
        "cp",
        "--python-version",
        LAMBDA_PYTHON,
        "--only-binary=:all:",
        "--requirement",
        str(requirements),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise BundlingError(
            f"pip could not install {requirements} for Lambda (Python {LAMBDA_PYTHON}, "
            f"{'/'.join(LAMBDA_PLATFORMS)}): {result.stderr.strip()[-2000:]}"
        )
    done.touch()
    return folder


class LambdaCode:
    """The staged Lambda code folder as a `lambda_.Code`, one per stack (CDK binds an asset to one stack)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._by_stack: dict[str, lambda_.Code] = {}

    def for_scope(self, scope: IConstruct) -> lambda_.Code:
        """The code asset for functions in `scope`'s stack (the same files, so one upload)."""
        path = Stack.of(scope).node.path
        if path not in self._by_stack:
            self._by_stack[path] = lambda_.Code.from_asset(str(self.folder))
        return self._by_stack[path]


class LabFunction(Construct):
    """A Python 3.12 Lambda over the lab's code: its own role and log group, X-Ray, Powertools settings.

    The role starts with nothing but writing to its own log group (and X-Ray, which has no
    resource-level permissions); callers grant what the handler needs.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: LambdaCode,
        handler: str,
        service: str,
        environment: Mapping[str, str],
        retention_days: int,
        timeout: Duration,
        memory_mib: int = 512,
        description: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = log_group(self, "Logs", retention_days)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{service}: the Lambda's own role",
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.X86_64,
            code=code.for_scope(self),
            handler=handler,
            role=self.role,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
            timeout=timeout,
            memory_size=memory_mib,
            description=description,
            environment={
                "POWERTOOLS_SERVICE_NAME": service,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                **environment,
            },
        )
        acknowledge(
            self,
            {
                "AwsSolutions-L1": f"Pinned to Python {LAMBDA_PYTHON}: the bundled wheels are installed for cp"
                f"{LAMBDA_PYTHON.replace('.', '')} (LAMBDA_PYTHON); a newer runtime means "
                f"re-pinning the runtime and the bundling together, deliberately.",
                "AwsSolutions-IAM5[Resource::*]": "X-Ray tracing (PutTraceSegments, PutTelemetryRecords) has no "
                "resource-level permissions; CDK grants it on * for active tracing.",
            },
        )


def log_group(scope: Construct, construct_id: str, retention_days: int) -> logs.LogGroup:
    """A log group keeping `retention_days` (one of settings.LOG_RETENTION), deleted with its stack."""
    return logs.LogGroup(
        scope,
        construct_id,
        retention=logs.RetentionDays[LOG_RETENTION[retention_days]],
        removal_policy=RemovalPolicy.DESTROY,
    )


def gpu_runner_image(root: Path = REPO_ROOT) -> ecs.ContainerImage:
    """The GPU runner's image asset: gpu_runner/Dockerfile over the repository root, only GPU_IMAGE_FILES.

    The lab's git commit goes in as the build argument AIV_LAB_COMMIT when the work tree is clean
    (aiv.provenance records it with every result); a dirty or git-less tree passes none, so the
    record says the commit is unknown rather than naming one that does not match the code.
    """
    from aiv.provenance import lab_commit

    commit = lab_commit()
    build_args = {"AIV_LAB_COMMIT": commit["commit"]} if commit["commit"] and commit["dirty"] is False else {}
    return ecs.ContainerImage.from_asset(
        str(root),
        file="gpu_runner/Dockerfile",
        platform=ecr_assets.Platform.LINUX_AMD64,
        build_args=build_args,
        ignore_mode=IgnoreMode.DOCKER,
        exclude=["**", *(f"!{name}" for name in GPU_IMAGE_FILES), *(f"**/{skip}" for skip in _SKIPPED)],
    )
