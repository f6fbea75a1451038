"""The AiV1 CDK app's stacks, one module each: storage, compute, pipeline, dashboard, schedule.

settings.py holds every context setting with its default; tagging.py the cost-allocation tags;
bundling.py the Lambda code, the function construct and the GPU image. app.py composes them.
"""

from __future__ import annotations

from typing import Mapping

from aws_cdk import Acknowledgment, Stack, Validations, aws_lambda
from constructs import IConstruct


def acknowledge(scope: IConstruct, findings: Mapping[str, str]) -> None:
    """Acknowledge cdk-nag findings on `scope` and everything below it, each with its reason.

    Keys are cdk-nag finding ids: a rule ("AwsSolutions-S1") or one finding of a rule that reports
    several per resource ("AwsSolutions-IAM5[Resource::*]"). Every reason says why the finding is
    right to accept here; tests/cdk/test_nag.py fails on any finding not acknowledged.
    """
    for finding, reason in findings.items():
        Validations.of(scope).acknowledge(Acknowledgment(id=finding, reason=reason))


def function_versions_finding(stack: Stack, function: aws_lambda.IFunction) -> str:
    """The cdk-nag finding id of a policy that invokes `function`'s versions and aliases (its ARN:*)."""
    return f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(function.node.default_child)}.Arn>:*]"
