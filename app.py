#!/usr/bin/env python3
"""The AiV1 CDK app: storage, compute, pipeline, schedule and dashboard stacks, cost-tagged, checked by cdk-nag.

Run by the CDK CLI (cdk.json: `python3 app.py` from the activated .venv); settings come from CDK
context (stacks/settings.py lists every key with its default). `build_app` is what tests synth.
Every stack gets the `Project` tag and its `CostCategory`; cdk-nag's AwsSolutions checks run at
synth and fail it on any finding not acknowledged in code with its reason.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")  # jsii's banner for Node 20

from aws_cdk import App, Environment, Validations  # noqa: E402  (after the jsii settings above)
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from stacks.bundling import LambdaCode, stage_lambda_code  # noqa: E402
from stacks.compute import ComputeStack  # noqa: E402
from stacks.dashboard import DashboardStack  # noqa: E402
from stacks.pipeline import PipelineStack  # noqa: E402
from stacks.schedule import ScheduleStack  # noqa: E402
from stacks.settings import Settings  # noqa: E402
from stacks.storage import StorageStack  # noqa: E402
from stacks.tagging import CostCategory, tag  # noqa: E402

LAMBDA_CODE_FOLDER = "lambda-code"  # staged inside the cloud assembly folder (cdk.out)


def build_app(
    context: Mapping[str, Any] | None = None, outdir: str | None = None, cloudformation_validation: bool = True
) -> App:
    """The app with all five stacks and cdk-nag attached; call `.synth()` on it.

    `context` adds CDK context (the CLI passes its own through the environment); tests pass
    `cloudformation_validation=False` because they run cfn-lint on the templates themselves.
    """
    app = App(context=dict(context or {}), outdir=outdir, builtin_cloud_formation_validation=cloudformation_validation)
    settings = Settings.from_context(app.node.try_get_context)
    code = LambdaCode(stage_lambda_code(Path(app.outdir) / LAMBDA_CODE_FOLDER, settings.bundling))
    # The region is fixed, the account is whichever the deploying credentials belong to: the templates
    # need no AWS lookup at synth, and the VPC spreads over two zones with Fn::GetAZs, none hardcoded.
    env = Environment(region=settings.region)

    def stack(cls, part: str, category: CostCategory, **kwargs):
        name = settings.stack_name(part)
        built = cls(
            app,
            name,
            stack_name=name,
            env=env,
            settings=settings,
            description=f"{settings.project} {part.lower()}: see docs/deploy.md",
            **kwargs,
        )
        tag(built, settings.project, category)
        return built

    storage = stack(StorageStack, "Storage", CostCategory.STORAGE)
    compute = stack(ComputeStack, "Compute", CostCategory.INFERENCE, storage=storage)
    pipeline = stack(PipelineStack, "Pipeline", CostCategory.ORCHESTRATOR, storage=storage, compute=compute, code=code)
    schedule = stack(
        ScheduleStack, "Schedule", CostCategory.ORCHESTRATOR, storage=storage, pipeline=pipeline, code=code
    )
    stack(
        DashboardStack,
        "Dashboard",
        CostCategory.DASHBOARD,
        storage=storage,
        pipeline=pipeline,
        schedule=schedule,
        code=code,
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


if __name__ == "__main__":
    build_app().synth()
