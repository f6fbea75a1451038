"""Every taggable resource of every stack carries `Project` and its stack's `CostCategory`.

Whether a type takes tags comes from its CloudFormation resource provider schema (the copy
cfn-lint ships): `tagging.taggable`, or a `Tags` property where the schema has no tagging block.
The types the app uses that take none are listed below with why, and the test checks the schema
agrees with every entry, so the list can neither hide a taggable type nor go stale unnoticed.
"""

from __future__ import annotations

import pytest
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from aiv.aws.costs import CATEGORY_TAG, PROJECT_TAG
from stacks.tagging import CostCategory

REGION = "us-east-1"
CATEGORY_OF_STACK = {
    "Storage": CostCategory.STORAGE,
    "Compute": CostCategory.INFERENCE,
    "Pipeline": CostCategory.ORCHESTRATOR,
    "Schedule": CostCategory.ORCHESTRATOR,
    "Dashboard": CostCategory.DASHBOARD,
}
# Types without tags: each is free configuration of a tagged resource, or is tagged another way.
UNTAGGABLE = {
    "AWS::ApiGateway::Account": "account-level API Gateway setting (the logs role); free",
    "AWS::ApiGateway::Deployment": "a snapshot of the tagged RestApi; its Stage carries the tags",
    "AWS::ApiGateway::Method": "part of the tagged RestApi",
    "AWS::ApiGateway::Resource": "part of the tagged RestApi",
    "AWS::ApiGateway::UsagePlanKey": "the link of the tagged ApiKey to the tagged UsagePlan; free",
    "AWS::CloudFront::CachePolicy": "configuration of the tagged Distribution; free",
    "AWS::CloudFront::OriginRequestPolicy": "configuration of the tagged Distribution; free",
    "AWS::EC2::LaunchTemplate": "tagged through TagSpecifications (test_gpu_instances_and_volumes_are_tagged)",
    "AWS::EC2::Route": "an entry of the tagged route table",
    "AWS::EC2::SubnetRouteTableAssociation": "links a tagged subnet and route table",
    "AWS::EC2::VPCGatewayAttachment": "links the tagged VPC and internet gateway",
    "AWS::IAM::InstanceProfile": "a container for the tagged role; IAM is free",
    "AWS::IAM::Policy": "an inline policy of a tagged role; IAM is free",
    "AWS::Lambda::Permission": "a resource policy statement of a tagged function",
    "AWS::S3::BucketPolicy": "the policy of a tagged bucket",
    "AWS::Scheduler::Schedule": "schedules take no tags; their ScheduleGroup is tagged",
}


def _schema(cfn_type: str) -> dict:
    assert cfn_type in PROVIDER_SCHEMA_MANAGER.get_resource_types(REGION), f"{cfn_type} is not a known type"
    return PROVIDER_SCHEMA_MANAGER.get_resource_schema(REGION, cfn_type).schema


def _tag_property(cfn_type: str) -> str | None:
    """The property holding a type's tags, or None when the type takes none."""
    schema = _schema(cfn_type)
    tagging = schema.get("tagging")
    if tagging is None:
        return "Tags" if "Tags" in schema.get("properties", {}) else None
    return tagging.get("tagProperty", "/properties/Tags").rsplit("/", 1)[1] if tagging.get("taggable") else None


def _tags(value) -> dict[str, str]:
    """Tags as a dict, from a list of {Key, Value} or a map."""
    return {tag["Key"]: tag["Value"] for tag in value} if isinstance(value, list) else dict(value or {})


@pytest.mark.parametrize("which", ["synth", "variant"])
@pytest.mark.parametrize("part", list(CATEGORY_OF_STACK))
def test_every_taggable_resource_has_project_and_its_cost_category(request, which, part):
    synth = request.getfixturevalue(which)
    expected = {PROJECT_TAG: synth.settings.project, CATEGORY_TAG: CATEGORY_OF_STACK[part].value}
    checked = 0
    for logical_id, resource in synth.template(part)["Resources"].items():
        prop = _tag_property(resource["Type"])
        if prop is None:
            assert resource["Type"] in UNTAGGABLE, f"{resource['Type']} takes no tags: review and list it"
            continue
        tags = _tags(resource.get("Properties", {}).get(prop))
        assert {key: tags.get(key) for key in expected} == expected, f"{part}/{logical_id} ({resource['Type']})"
        checked += 1
    assert checked > 0


def test_the_untaggable_list_matches_the_schemas():
    for cfn_type in UNTAGGABLE:
        assert _tag_property(cfn_type) is None, f"{cfn_type} is taggable after all: tag it, drop it from the list"


def test_gpu_instances_and_volumes_are_tagged(synth):
    expected = {PROJECT_TAG: "AiV1", CATEGORY_TAG: CostCategory.INFERENCE.value}
    resources = synth.only("Compute", "AWS::Batch::ComputeEnvironment")["ComputeResources"]
    assert {key: resources["Tags"][key] for key in expected} == expected  # the instances Batch launches
    specifications = synth.only("Compute", "AWS::EC2::LaunchTemplate")["LaunchTemplateData"]["TagSpecifications"]
    tagged = {spec["ResourceType"]: _tags(spec["Tags"]) for spec in specifications}
    assert set(tagged) == {"instance", "volume"}
    for tags in tagged.values():
        assert {key: tags[key] for key in expected} == expected
    assert synth.only("Compute", "AWS::Batch::JobDefinition")["PropagateTags"] is True
