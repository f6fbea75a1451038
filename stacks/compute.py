"""The compute stack: the VPC, the Batch GPU compute environment, the job queue, the job definition.

Idle, it costs nothing: the compute environment scales to 0 vCPUs, and the VPC has no NAT
gateway (about $32 a month idle plus $0.045/GB): its subnets are public, instances take a public
IPv4 address for egress (ECR, Batch/ECS endpoints, CloudWatch Logs), and the security group has
no inbound rule, so nothing can connect in. S3 and DynamoDB go through gateway endpoints, which
are free. Two availability zones (Spot capacity in either), one public subnet each. Each job
reserves one GPU, 4 vCPUs and 14 GiB: one evaluation per g4dn.xlarge.
The VPC's default security group is left as AWS makes it (inbound only from its own members):
nothing is ever launched into it, and emptying it would take a Lambda-backed custom resource
that cannot carry the cost-allocation tags.

Cost: the job is given the hourly price it records per experiment (aiv/aws/prices.py): the On-Demand
list price of the dearest configured instance type in the stack's region, an upper bound; a region or
type without a list price in that table fails the synth.

Credentials: the job's role (read/write to the table and bucket, nothing else) is served to the
container by the ECS agent at 169.254.170.2; the runner keeps it out of the candidate's sandbox. The
instance's own role (the ECS agent's) must not be reachable from the job: Batch runs ECS-EC2 jobs in
**host** networking, so the container shares the host's network and IMDSv2's hop limit does not stop
it. The launch template's user data (IMDS_BLOCK_SCRIPT) therefore drops, before the ECS agent starts,
every packet to 169.254.169.254 sent from a process in the cgroup the agent puts task containers in
(ecstasks.slice, cgroup v2); the agent itself runs outside it and keeps IMDS. IMDS answers IPv4 only
(no IPv6 endpoint) and requires tokens.

The job definition has a fixed name (JOB_DEFINITION_NAME): the state machine submits by that name,
so Batch takes its latest active revision and no stack imports the revision's ARN (which changes
with every image, i.e. every commit, and CloudFormation cannot change an export that is imported).

The container runs privileged and as root, for the sandbox (aiv/codec/sandbox.py): its per-run
uids need a root parent (setuid, setgid), and its mount jail and network and IPC namespaces need
unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC) and mount(), that is CAP_SYS_ADMIN and a
seccomp profile that lets those calls through; Docker's default container has neither. AWS Batch
cannot add a single capability (its LinuxParameters have no capabilities field, unlike an ECS task
definition's), so privileged is the narrowest setting that works. Without it the sandbox falls
back to a shared network, where native code in a candidate could reach the container credentials
endpoint (169.254.170.2) and the internet. A candidate never holds the privilege: it runs under a
fresh uid with no capabilities and no_new_privs, in the jail and its own network namespace
(docs/deploy.md, "Security of the deployed lab").
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, Size, Stack
from aws_cdk import aws_batch as batch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from constructs import Construct

from aiv.names import BUCKET, CLIPS_PREFIX, PROJECT, SETTINGS, TABLE
from aiv.aws.prices import job_price, price_environment
from stacks import acknowledge
from stacks.bundling import gpu_runner_image, log_group
from stacks.settings import JOB_GPUS, JOB_MEMORY_MIB, JOB_VCPUS, Settings
from stacks.storage import StorageRefs, StorageStack

IMDS_BLOCK_SCRIPT = Path(__file__).with_name("imds_block.sh")  # the launch template's user data
ENTRY_COMMAND = ("python", "-m", "gpu_runner.entry", "--experiment-id")  # + the experiment id
EXPERIMENT_PARAMETER = "experiment_id"  # the job definition's Ref:: parameter, for a manual submit-job
ROOT_VOLUME_GIB = 60  # the image unpacked (torch and its CUDA libraries: several GiB), the clips and the work files
RETRY_ATTEMPTS = 3  # a job whose Spot instance was reclaimed runs again, at most this often in all
RUNNABLE_CANCEL_REASONS = (
    batch.JobStateTimeLimitActionsReason.INSUFFICIENT_INSTANCE_CAPACITY,
    batch.JobStateTimeLimitActionsReason.JOB_RESOURCE_REQUIREMENT,
    batch.JobStateTimeLimitActionsReason.COMPUTE_ENVIRONMENT_MAX_RESOURCE,
)


class ComputeStack(Stack):
    """Exposes `vpc`, `compute_environment`, `job_queue`, `job_definition` (and its fixed
    `job_definition_name`), `job_role`."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: Settings, storage: StorageStack, **kwargs
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        store = storage.refs(self)
        self.vpc = self._vpc(settings)
        self.compute_environment = self._compute_environment(settings)
        self.job_queue = batch.JobQueue(
            self,
            "JobQueue",
            priority=1,
            compute_environments=[
                batch.OrderedComputeEnvironment(compute_environment=self.compute_environment, order=1)
            ],
            job_state_time_limit_actions=[
                batch.JobStateTimeLimitAction(
                    max_time=Duration.minutes(settings.runnable_timeout_minutes),
                    reason=reason,
                    action=batch.JobStateTimeLimitActionsAction.CANCEL,
                    state=batch.JobStateTimeLimitActionsState.RUNNABLE,
                )
                for reason in RUNNABLE_CANCEL_REASONS
            ],
        )
        self.job_role = iam.Role(
            self,
            "JobRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="AiV1 GPU runner: reads experiments and clips, writes results",
        )
        store.table.grant_read_write_data(self.job_role)
        store.grant_objects(self.job_role, write=True)
        acknowledge(self.job_role, store.findings("The GPU job", objects=True, indexes=True))
        self.job_definition_name = job_definition_name(settings)
        self.job_definition = self._job_definition(settings, store)

    def _vpc(self, settings: Settings) -> ec2.Vpc:
        flow_logs = log_group(self, "FlowLogs", settings.log_retention_days)
        return ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            restrict_default_security_group=False,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=20, map_public_ip_on_launch=True
                )
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
                "DynamoDB": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.DYNAMODB),
            },
            flow_logs={
                "All": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )

    def _compute_environment(self, settings: Settings) -> batch.ManagedEc2EcsComputeEnvironment:
        security_group = ec2.SecurityGroup(
            self,
            "GpuInstances",
            vpc=self.vpc,
            allow_all_outbound=True,
            description="AiV1 GPU instances: no inbound rules; outbound to ECR, Batch, S3, DynamoDB, Logs",
        )
        launch_template = ec2.LaunchTemplate(
            self,
            "GpuLaunchTemplate",
            require_imdsv2=True,
            http_tokens=ec2.LaunchTemplateHttpTokens.REQUIRED,
            http_put_response_hop_limit=1,
            http_protocol_ipv6=False,
            user_data=imds_block_user_data(),
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(
                        ROOT_VOLUME_GIB,
                        encrypted=True,
                        delete_on_termination=True,
                        volume_type=ec2.EbsDeviceVolumeType.GP3,
                    ),
                )
            ],
        )
        environment = batch.ManagedEc2EcsComputeEnvironment(
            self,
            "GpuEnvironment",
            vpc=self.vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            security_groups=[security_group],
            launch_template=launch_template,
            instance_types=[ec2.InstanceType(name) for name in settings.instance_types],
            use_optimal_instance_classes=False,
            images=[batch.EcsMachineImage(image_type=batch.EcsMachineImageType.ECS_AL2023_NVIDIA)],
            spot=settings.spot,
            allocation_strategy=(
                batch.AllocationStrategy.SPOT_PRICE_CAPACITY_OPTIMIZED
                if settings.spot
                else batch.AllocationStrategy.BEST_FIT_PROGRESSIVE
            ),
            minv_cpus=0,
            maxv_cpus=settings.max_vcpus,
            update_to_latest_image_version=True,
        )
        acknowledge(
            environment,
            {
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonEC2ContainerServiceforEC2Role]": "The instance role of a Batch ECS compute environment needs the ECS agent's permissions "
                "(register the instance, pull images, send logs); AWS maintains this policy for exactly that.",
            },
        )
        return environment

    def _job_definition(self, settings: Settings, storage: StorageRefs) -> batch.EcsJobDefinition:
        job_logs = log_group(self, "JobLogs", settings.log_retention_days)
        container = batch.EcsEc2ContainerDefinition(
            self,
            "GpuRunner",
            image=gpu_runner_image(),
            gpu=JOB_GPUS,
            cpu=JOB_VCPUS,
            privileged=True,
            user="root",
            memory=Size.mebibytes(JOB_MEMORY_MIB),
            job_role=self.job_role,
            command=[*ENTRY_COMMAND, f"Ref::{EXPERIMENT_PARAMETER}"],
            logging=ecs.LogDriver.aws_logs(stream_prefix="gpu-runner", log_group=job_logs),
            environment={
                TABLE: storage.table_name,
                BUCKET: storage.bucket_name,
                CLIPS_PREFIX: storage.clips_prefix,
                SETTINGS: settings.campaign_json,
                PROJECT: settings.project,
                "AWS_DEFAULT_REGION": settings.region,
                **price_environment(job_price(settings.region, settings.instance_types, settings.spot)),
            },
        )
        acknowledge(
            container,
            {
                "AwsSolutions-IAM5[Resource::*]": (
                    "The execution role's ecr:GetAuthorizationToken has no resource-level permissions; pulling the "
                    "image itself is granted on the asset repository only."
                )
            },
        )
        return batch.EcsJobDefinition(
            self,
            "GpuJob",
            job_definition_name=self.job_definition_name,
            container=container,
            propagate_tags=True,
            timeout=Duration.minutes(settings.evaluation_timeout_minutes),
            retry_attempts=RETRY_ATTEMPTS,
            retry_strategies=[
                batch.RetryStrategy.of(batch.Action.RETRY, batch.Reason.SPOT_INSTANCE_RECLAIMED),
                batch.RetryStrategy.of(batch.Action.EXIT, batch.Reason.custom(on_reason="*")),
            ],
        )


def job_definition_name(settings: Settings) -> str:
    """The GPU job definition's fixed name; the state machine submits by it (its latest active revision)."""
    return f"{settings.project}-gpu-runner"


def imds_block_user_data() -> ec2.MultipartUserData:
    """The launch template's user data: IMDS_BLOCK_SCRIPT as a shell part (Batch needs MIME multipart user data)."""
    user_data = ec2.MultipartUserData()
    user_data.add_part(ec2.MultipartBody.from_user_data(ec2.UserData.custom(IMDS_BLOCK_SCRIPT.read_text())))
    return user_data
