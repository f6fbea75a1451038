"""Cost-allocation tags: `Project` and `CostCategory` on every taggable resource.

Each stack carries the category of what it pays for; `Tags.of(stack)` reaches every taggable
resource in it (and the EC2 instances and volumes Batch launches, through the compute
environment's and the launch template's tag specifications). Activate both keys as cost
allocation tags in Billing so Cost Explorer can group by them (docs/deploy.md).
"""

from __future__ import annotations

from enum import Enum

from aws_cdk import Tags
from constructs import IConstruct

from aiv.aws.costs import CATEGORY_TAG, PROJECT_TAG  # the tag keys the cost reader groups by


class CostCategory(str, Enum):
    """What a resource's cost is for, as the dashboard's cost view groups it."""

    ORCHESTRATOR = "Orchestrator"  # Step Functions, the step Lambdas, schedules, the cost reader
    INFERENCE = "Inference"  # Batch, the GPU instances, the VPC they run in
    STORAGE = "Storage"  # the tables, the bucket, the API key secret
    DASHBOARD = "Dashboard"  # API Gateway, CloudFront, the dashboard and admin Lambdas


def tag(scope: IConstruct, project: str, category: CostCategory) -> None:
    """Tag `scope` and everything taggable below it with the project and its cost category."""
    Tags.of(scope).add(PROJECT_TAG, project)
    Tags.of(scope).add(CATEGORY_TAG, category.value)
