"""The compute stack: no inbound path and no NAT, a Spot GPU environment that idles at 0, the GPU job."""

from __future__ import annotations

import base64
import email
import json
import subprocess

import pytest
from aws_cdk import aws_batch as batch
from aws_cdk.assertions import Match

from aiv.aws.prices import GPU_PRICE, GPU_PRICE_BASIS, on_demand_price
from aiv.errors import ConfigError
from app import build_app
from stacks.compute import ENTRY_COMMAND, EXPERIMENT_PARAMETER, IMDS_BLOCK_SCRIPT
from stacks.settings import GPU_INSTANCES, JOB_MEMORY_MIB

from .cdk_app import cdk_json_context
from .cfn_json import actions, as_list, imports, statements


def test_vpc_has_public_subnets_only_and_no_nat_cost_trap(synth):
    assert synth.resources("Compute", "AWS::EC2::NatGateway") == {}
    assert synth.resources("Compute", "AWS::EC2::EIP") == {}
    subnets = synth.resources("Compute", "AWS::EC2::Subnet").values()
    assert subnets and all(subnet["Properties"]["MapPublicIpOnLaunch"] is True for subnet in subnets)
    endpoints = synth.resources("Compute", "AWS::EC2::VPCEndpoint").values()
    services = sorted(e["Properties"]["ServiceName"]["Fn::Join"][1][-1] for e in endpoints)
    assert services == [".dynamodb", ".s3"]
    assert all(e["Properties"]["VpcEndpointType"] == "Gateway" for e in endpoints)
    assert synth.resources("Compute", "AWS::EC2::FlowLog")


def test_gpu_instances_accept_no_inbound_traffic(synth):
    [group] = synth.resources("Compute", "AWS::EC2::SecurityGroup").values()
    assert "SecurityGroupIngress" not in group["Properties"]
    assert synth.resources("Compute", "AWS::EC2::SecurityGroupIngress") == {}


def _resolved(value) -> str:
    """A template string value as CloudFormation makes it, for Fn::Join and Fn::Base64 of literal text."""
    if isinstance(value, str):
        return value
    if "Fn::Base64" in value:
        return base64.b64encode(_resolved(value["Fn::Base64"]).encode()).decode()
    separator, parts = value["Fn::Join"]
    return separator.join(_resolved(part) for part in parts)


def user_data(synth) -> str:
    """The launch template's user data as the instance receives it (the MIME text)."""
    encoded = synth.only("Compute", "AWS::EC2::LaunchTemplate")["LaunchTemplateData"]["UserData"]
    return base64.b64decode(_resolved(encoded)).decode()


def test_containers_cannot_reach_the_instance_role_through_imds(synth):
    template = synth.only("Compute", "AWS::EC2::LaunchTemplate")["LaunchTemplateData"]
    assert template["MetadataOptions"] == {
        "HttpPutResponseHopLimit": 1,
        "HttpTokens": "required",
        "HttpProtocolIpv6": "disabled",
    }
    [volume] = template["BlockDeviceMappings"]
    assert volume["Ebs"]["DeleteOnTermination"] is True and volume["Ebs"]["Encrypted"] is True
    # Batch runs ECS-EC2 jobs in host networking: the hop limit does not stop them, a firewall rule does.
    text = user_data(synth)
    message = email.message_from_string(text)
    assert message.is_multipart()  # Batch merges its own parts into MIME multipart user data only
    [script] = [
        part.get_payload(decode=True).decode()
        for part in message.get_payload()
        if part.get_content_type() == "text/x-shellscript"
    ]
    assert script == IMDS_BLOCK_SCRIPT.read_text()
    rule = '--destination 169.254.169.254/32 --match cgroup --path "${SLICE}" --jump DROP'
    assert f"iptables --wait --insert OUTPUT 1 {rule}" in script and "SLICE=ecstasks.slice" in script
    assert script.index("systemctl start") < script.index("--insert OUTPUT")  # the cgroup exists before the rule


def test_the_imds_rule_script_is_valid_bash():
    checked = subprocess.run(["bash", "-n", str(IMDS_BLOCK_SCRIPT)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    assert IMDS_BLOCK_SCRIPT.read_text().splitlines()[:1] == ["#!/bin/bash"]
    assert "set -euo pipefail" in IMDS_BLOCK_SCRIPT.read_text()


def test_the_job_is_given_its_region(synth):
    assert job_environment(synth)["AWS_DEFAULT_REGION"] == synth.settings.region == "us-east-1"


def test_compute_environment_is_spot_gpu_scaling_from_zero(synth):
    environment = synth.only("Compute", "AWS::Batch::ComputeEnvironment")
    resources = environment["ComputeResources"]
    assert resources["Type"] == "SPOT"
    assert resources["AllocationStrategy"] == "SPOT_PRICE_CAPACITY_OPTIMIZED"
    assert resources["MinvCpus"] == 0
    assert resources["MaxvCpus"] == synth.settings.max_vcpus
    assert resources["InstanceTypes"] == list(synth.settings.instance_types)
    assert resources["Ec2Configuration"] == [{"ImageType": "ECS_AL2023_NVIDIA"}]
    assert "ComputeEnvironmentName" not in environment  # a replacement gets a new name, so updates work


def test_on_demand_by_context(variant):
    resources = variant.only("Compute", "AWS::Batch::ComputeEnvironment")["ComputeResources"]
    assert resources["Type"] == "EC2"
    assert resources["AllocationStrategy"] == "BEST_FIT_PROGRESSIVE"


def test_job_queue_cancels_jobs_stuck_in_runnable(synth):
    actions = synth.only("Compute", "AWS::Batch::JobQueue")["JobStateTimeLimitActions"]
    reasons = {action["Reason"] for action in actions}
    assert {"CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY", "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT"} <= reasons
    for action in actions:
        assert action["Action"] == "CANCEL" and action["State"] == "RUNNABLE"
        assert action["MaxTimeSeconds"] == synth.settings.runnable_timeout_minutes * 60


def test_job_definition_reserves_one_gpu_and_fits_every_instance_type(synth):
    job = synth.only("Compute", "AWS::Batch::JobDefinition")
    requirements = {r["Type"]: int(r["Value"]) for r in job["ContainerProperties"]["ResourceRequirements"]}
    assert requirements["GPU"] == 1
    assert requirements["MEMORY"] == JOB_MEMORY_MIB
    for name in synth.settings.instance_types:
        assert requirements["VCPU"] <= GPU_INSTANCES[name].vcpus
        assert requirements["MEMORY"] < GPU_INSTANCES[name].memory_gib * 1024  # the OS and ECS agent keep some
    assert job["PlatformCapabilities"] == ["EC2"]
    assert job["Timeout"] == {"AttemptDurationSeconds": synth.settings.evaluation_timeout_minutes * 60}
    assert job["ContainerProperties"]["Command"] == [*ENTRY_COMMAND, f"Ref::{EXPERIMENT_PARAMETER}"]


def test_the_gpu_container_is_privileged_so_the_sandbox_gets_its_namespaces(synth):
    # aiv/codec/sandbox.py's mount jail and network namespace need CAP_SYS_ADMIN (unshare, mount) past
    # Docker's default seccomp profile: without them a candidate shares the container's network.
    synth.assertions("Compute").has_resource_properties(
        "AWS::Batch::JobDefinition", {"ContainerProperties": Match.object_like({"Privileged": True, "User": "root"})}
    )  # root: per-run uids
    # Batch offers nothing narrower: its LinuxParameters cannot add single capabilities. If this starts
    # failing, Batch can, and the job should add CAP_SYS_ADMIN alone instead of running privileged.
    fields = {name.lower() for name in dir(batch.CfnJobDefinition.LinuxParametersProperty)}
    assert not any("capabilit" in name for name in fields)


def test_job_retries_only_when_spot_takes_the_instance(synth):
    strategy = synth.only("Compute", "AWS::Batch::JobDefinition")["RetryStrategy"]
    assert strategy["Attempts"] > 1
    assert strategy["EvaluateOnExit"] == [
        {"Action": "RETRY", "OnStatusReason": "Host EC2*"},
        {"Action": "EXIT", "OnReason": "*"},
    ]


def test_job_image_is_an_asset_built_from_the_gpu_runner_dockerfile(synth):
    image = synth.only("Compute", "AWS::Batch::JobDefinition")["ContainerProperties"]["Image"]["Fn::Sub"]
    digest = image.rsplit(":", 1)[1]
    assets = json.loads((synth.outdir / "AiV1-Compute.assets.json").read_text())["dockerImages"]
    source = assets[digest]["source"]
    assert source["dockerFile"] == "gpu_runner/Dockerfile"
    staged = synth.outdir / source["directory"]
    assert sorted(path.name for path in staged.iterdir()) == ["README.md", "aiv", "gpu_runner", "pyproject.toml"]
    assert (staged / "gpu_runner" / "Dockerfile").is_file() and not list(staged.rglob("__pycache__"))


def test_job_role_reaches_only_the_table_and_bucket(synth):
    found = statements(synth.template("Compute"), "JobRole")
    resources = [resource for statement in found for resource in as_list(statement["Resource"])]
    assert "*" not in resources
    assert imports(resources) == {"AiV1-Storage-ExperimentsTableArn", "AiV1-Storage-ArtifactsBucketArn"}
    allowed = actions(found)
    assert {"s3:GetObject", "s3:PutObject", "dynamodb:Query", "dynamodb:UpdateItem"} <= allowed
    assert not any(a.startswith(("s3:Delete", "iam:", "secretsmanager:", "batch:")) for a in allowed)


def job_environment(synth) -> dict[str, str]:
    job = synth.only("Compute", "AWS::Batch::JobDefinition")
    return {variable["Name"]: variable["Value"] for variable in job["ContainerProperties"]["Environment"]}


def test_the_job_is_given_the_dearest_instance_list_price_as_an_upper_bound(synth, variant):
    # the defaults: Spot on g4dn.xlarge or g4dn.2xlarge in us-east-1; the job prices its seconds at the dearer
    spot = job_environment(synth)
    assert spot[GPU_PRICE] == "0.752"
    assert spot[GPU_PRICE_BASIS] == (
        "upper bound: g4dn.2xlarge On-Demand list price in us-east-1, $0.752/h; Batch "
        "may place the job on a cheaper type (g4dn.xlarge); Spot costs less"
    )
    on_demand = job_environment(variant)
    assert on_demand[GPU_PRICE] == "0.752" and "Spot" not in on_demand[GPU_PRICE_BASIS]
    assert on_demand[GPU_PRICE_BASIS].startswith("upper bound: g4dn.2xlarge On-Demand list price in us-east-1")


def test_every_allowed_instance_type_has_a_list_price_in_the_default_region():
    assert all(on_demand_price("us-east-1", name) > 0 for name in GPU_INSTANCES)


def test_a_region_without_list_prices_fails_the_synth_naming_it(tmp_path):
    with pytest.raises(ConfigError, match="no On-Demand price table for region 'eu-west-1'"):
        build_app(
            {**cdk_json_context(), "bundling": "copy-only", "region": "eu-west-1"},
            outdir=str(tmp_path),
            cloudformation_validation=False,
        )
