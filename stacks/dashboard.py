"""The dashboard stack: the public dashboard behind CloudFront, and the IAM-authorized admin API.

One regional REST API serves both. `GET /` and `GET /{proxy+}` go to the dashboard Lambda (read
access to the table and bucket; it presigns artifact links at render time); `ANY /admin/{proxy+}`
goes to the admin Lambda and needs a SigV4 signature (AuthorizationType.IAM): `aiv admin ...`
signs its calls to the API's own stage URL (the output AdminApiUrl), since a signature for the
CloudFront host would not match.

CloudFront caches the dashboard for about a minute (a custom cache policy keyed on the query
string). Its origin request policy forwards the query string and no header, in particular never
the viewer's Host: API Gateway answers 403 to a Host that is not its own. Viewers get HTTPS only;
only GET and HEAD pass, so the admin API is not reachable through CloudFront at all.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam
from constructs import Construct

from aiv.names import SCHEDULE_GROUP, SCHEDULE_NAME, STATE_MACHINE_ARN
from stacks import acknowledge
from stacks.bundling import LabFunction, LambdaCode, log_group
from stacks.pipeline import PipelineStack
from stacks.schedule import ScheduleStack
from stacks.settings import Settings
from stacks.storage import StorageStack, lab_environment

CACHE_TTL = Duration.seconds(60)
STAGE = "prod"
ADMIN_PATH = "admin"
THROTTLE_RATE, THROTTLE_BURST = 20, 40  # requests per second per stage: a lab dashboard, not a public site


class DashboardStack(Stack):
    """Exposes `api`, `distribution`, `cache_policy`, `origin_request_policy`, `dashboard`, `admin`."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, storage: StorageStack,
                 pipeline: PipelineStack, schedule: ScheduleStack, code: LambdaCode, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        store = storage.refs(self)
        environment = lab_environment(settings, store)
        self.dashboard = LabFunction(self, "DashboardFunction", code=code, handler="dashboard.handler",
                                     service="aiv-dashboard", environment=environment, memory_mib=1024,
                                     retention_days=settings.log_retention_days, timeout=Duration.seconds(29),
                                     description="AiV1 dashboard: renders the lab's pages")
        store.table.grant_read_data(self.dashboard.role)
        store.grant_objects(self.dashboard.role)  # presigned links are signed with this role
        acknowledge(self.dashboard, store.findings("The dashboard", objects=True, indexes=True))
        self.admin = LabFunction(self, "AdminFunction", code=code, handler="admin.handler", service="aiv-admin",
                                 environment={**environment, SCHEDULE_NAME: schedule.runs.schedule_name,
                                              SCHEDULE_GROUP: schedule.group.schedule_group_name,
                                              STATE_MACHINE_ARN: pipeline.state_machine.state_machine_arn},
                                 retention_days=settings.log_retention_days, timeout=Duration.seconds(29),
                                 description="AiV1 admin API: pause/resume the schedule, start runs, reruns, imports")
        store.table.grant_read_write_data(self.admin.role)
        store.grant_objects(self.admin.role, write=True)  # an import stores the module as code/<sha>.py
        acknowledge(self.admin, store.findings("The admin API", objects=True, indexes=True))
        pipeline.state_machine.grant_start_execution(self.admin.role)
        self.admin.role.add_to_principal_policy(iam.PolicyStatement(
            actions=["scheduler:GetSchedule", "scheduler:UpdateSchedule"], resources=[schedule.runs.schedule_arn]))
        schedule.run_role.grant_pass_role(self.admin.role)  # UpdateSchedule re-sends the target and its role
        self.api = self._api(settings)
        self._distribution()
        CfnOutput(self, "DashboardUrl", value=f"https://{self.distribution.distribution_domain_name}/",
                  description="The public dashboard (CloudFront)")
        CfnOutput(self, "AdminApiUrl", value=self.api.url,
                  description=f"The API's stage URL: `aiv admin ... --api <this>` signs calls to its /{ADMIN_PATH}/ "
                              f"paths with your AWS credentials")

    def _api(self, settings: Settings) -> apigw.RestApi:
        access_logs = log_group(self, "ApiAccessLogs", settings.log_retention_days)
        api = apigw.RestApi(
            self, "Api", description="AiV1: the dashboard (public, GET) and the admin API (IAM)",
            endpoint_types=[apigw.EndpointType.REGIONAL], cloud_watch_role=True,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE, tracing_enabled=True, logging_level=apigw.MethodLoggingLevel.ERROR,
                metrics_enabled=False, throttling_rate_limit=THROTTLE_RATE, throttling_burst_limit=THROTTLE_BURST,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True, http_method=True, ip=True, protocol=True, request_time=True, resource_path=True,
                    response_length=True, status=True, user=True)))
        pages = apigw.LambdaIntegration(self.dashboard.function)
        api.root.add_method("GET", pages)
        api.root.add_resource("{proxy+}").add_method("GET", pages)
        api.root.add_resource(ADMIN_PATH).add_resource("{proxy+}").add_method(
            "ANY", apigw.LambdaIntegration(self.admin.function), authorization_type=apigw.AuthorizationType.IAM)
        acknowledge(api, {
            "AwsSolutions-APIG2": "Both integrations are Lambda proxies over free-form paths; the handlers "
                                  "validate every request themselves and answer 400 with the reason.",
            "AwsSolutions-APIG3": "No WAF: a web ACL costs $5 a month plus $1 per rule even when idle, and the "
                                  "dashboard is read-only, cached by CloudFront and throttled per stage.",
            "AwsSolutions-APIG4": "The dashboard pages are public and read-only by design (a public lab "
                                  "notebook); every admin method requires IAM authorization.",
            "AwsSolutions-COG4": "No Cognito: the public pages need no sign-in, and the admin API uses IAM "
                                 "(SigV4) authorization instead of a user pool.",
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]":
                "The account-level role API Gateway needs to write access and execution logs; this AWS "
                "managed policy grants exactly the CloudWatch Logs actions it uses.",
        })
        return api

    def _distribution(self) -> None:
        self.cache_policy = cloudfront.CachePolicy(
            self, "DashboardCache", comment="AiV1 dashboard: about a minute, keyed on the query string",
            default_ttl=CACHE_TTL, min_ttl=Duration.seconds(0), max_ttl=CACHE_TTL,
            query_string_behavior=cloudfront.CacheQueryStringBehavior.all(),
            header_behavior=cloudfront.CacheHeaderBehavior.none(),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
            enable_accept_encoding_gzip=True, enable_accept_encoding_brotli=True)
        self.origin_request_policy = cloudfront.OriginRequestPolicy(
            self, "DashboardOriginRequest", comment="AiV1 dashboard: the query string, no headers (never Host)",
            query_string_behavior=cloudfront.OriginRequestQueryStringBehavior.all(),
            header_behavior=cloudfront.OriginRequestHeaderBehavior.none(),
            cookie_behavior=cloudfront.OriginRequestCookieBehavior.none())
        self.distribution = cloudfront.Distribution(
            self, "Distribution", comment="AiV1 dashboard", price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.RestApiOrigin(self.api),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD, cache_policy=self.cache_policy,
                origin_request_policy=self.origin_request_policy))
        acknowledge(self.distribution, {
            "AwsSolutions-CFR1": "A public lab dashboard: no country is excluded.",
            "AwsSolutions-CFR2": "No WAF: a web ACL costs $5 a month plus $1 per rule even when idle; the origin "
                                 "is read-only and throttled.",
            "AwsSolutions-CFR3": "No CloudFront standard logs (they need an ACL-enabled bucket); every request "
                                 "that reaches the origin is in the API's access log, and cache hits serve only "
                                 "public, read-only pages.",
            "AwsSolutions-CFR4": "The distribution uses the default *.cloudfront.net certificate, with which "
                                 "CloudFront does not let the minimum viewer TLS version be raised; a custom "
                                 "domain and ACM certificate would allow TLSv1.2_2021.",
        })
