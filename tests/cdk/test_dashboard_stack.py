"""The dashboard stack: the cached public dashboard behind CloudFront and the IAM-only admin API."""

from __future__ import annotations

from stacks.dashboard import (
    ADMIN_PATH,
    ADMIN_THROTTLE_RATE,
    API_KEY_HEADER,
    THROTTLE_RATE,
)

from .cfn_json import actions, as_list, imports, statements


def test_cache_policy_keeps_pages_about_a_minute_keyed_on_the_query_string(synth):
    config = synth.only("Dashboard", "AWS::CloudFront::CachePolicy")["CachePolicyConfig"]
    assert config["DefaultTTL"] == 60 and config["MaxTTL"] == 60 and config["MinTTL"] == 0
    key = config["ParametersInCacheKeyAndForwardedToOrigin"]
    assert key["HeadersConfig"] == {"HeaderBehavior": "none"}
    assert key["QueryStringsConfig"] == {"QueryStringBehavior": "all"}
    assert key["CookiesConfig"] == {"CookieBehavior": "none"}


def test_origin_requests_never_carry_the_host_header(synth):
    config = synth.only("Dashboard", "AWS::CloudFront::OriginRequestPolicy")["OriginRequestPolicyConfig"]
    assert config["HeadersConfig"] == {"HeaderBehavior": "none"}  # not Host, not any viewer header
    assert config["QueryStringsConfig"] == {"QueryStringBehavior": "all"}


def test_distribution_serves_the_api_over_https_only_with_both_policies(synth):
    config = synth.only("Dashboard", "AWS::CloudFront::Distribution")["DistributionConfig"]
    behavior = config["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "https-only"
    assert behavior["AllowedMethods"] == ["GET", "HEAD"]  # the admin API's POSTs cannot pass through CloudFront
    [cache] = synth.resources("Dashboard", "AWS::CloudFront::CachePolicy")
    [origin_request] = synth.resources("Dashboard", "AWS::CloudFront::OriginRequestPolicy")
    assert behavior["CachePolicyId"] == {"Ref": cache}
    assert behavior["OriginRequestPolicyId"] == {"Ref": origin_request}
    [origin] = config["Origins"]
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert "execute-api" in str(origin["DomainName"])


def test_api_is_regional_with_public_reads_and_an_iam_only_admin(synth):
    api = synth.only("Dashboard", "AWS::ApiGateway::RestApi")
    assert api["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    resources = synth.resources("Dashboard", "AWS::ApiGateway::Resource")
    [admin] = [key for key, value in resources.items() if value["Properties"]["PathPart"] == ADMIN_PATH]
    admin_resources = {key for key, value in resources.items() if value["Properties"]["ParentId"] == {"Ref": admin}}
    assert [resources[key]["Properties"]["PathPart"] for key in admin_resources] == ["{proxy+}"]
    methods = synth.resources("Dashboard", "AWS::ApiGateway::Method").values()
    for method in methods:
        props = method["Properties"]
        on_admin = props["ResourceId"].get("Ref") in admin_resources
        assert props["AuthorizationType"] == ("AWS_IAM" if on_admin else "NONE")
        assert props["HttpMethod"] == ("ANY" if on_admin else "GET")
        assert props.get("ApiKeyRequired", False) is not on_admin  # the pages only through CloudFront
    assert sum(m["Properties"]["AuthorizationType"] == "AWS_IAM" for m in methods) == 1


def test_every_media_type_is_binary_so_gzipped_pages_are_decoded(synth):
    # the dashboard Lambda answers gzip, base64-encoded, to CloudFront's Accept-Encoding: gzip
    assert synth.only("Dashboard", "AWS::ApiGateway::RestApi")["BinaryMediaTypes"] == ["*/*"]


def test_only_cloudfront_holds_the_pages_api_key(synth):
    [secret] = synth.resources("Dashboard", "AWS::SecretsManager::Secret")
    key = synth.only("Dashboard", "AWS::ApiGateway::ApiKey")
    [origin] = synth.only("Dashboard", "AWS::CloudFront::Distribution")["DistributionConfig"]["Origins"]
    [header] = origin["OriginCustomHeaders"]
    assert header["HeaderName"] == API_KEY_HEADER
    resolve = {"Fn::Join": ["", ["{{resolve:secretsmanager:", {"Ref": secret}, ":SecretString:::}}"]]}
    assert key["Value"] == header["HeaderValue"] == resolve  # resolved at deploy; no value in the template
    generated = synth.only("Dashboard", "AWS::SecretsManager::Secret")["GenerateSecretString"]
    assert generated["ExcludePunctuation"] is True and generated["PasswordLength"] >= 20
    plan = synth.only("Dashboard", "AWS::ApiGateway::UsagePlan")
    assert plan["Throttle"] == {"BurstLimit": 40, "RateLimit": THROTTLE_RATE}
    assert synth.resources("Dashboard", "AWS::ApiGateway::UsagePlanKey")


def test_the_admin_api_has_its_own_throttle(synth):
    stage = synth.only("Dashboard", "AWS::ApiGateway::Stage")
    admin = [m for m in stage["MethodSettings"] if m["ResourcePath"] != "/*"]
    assert admin == [
        {
            **admin[0],
            "ResourcePath": f"/~1{ADMIN_PATH}~1{{proxy+}}",
            "HttpMethod": "*",
            "ThrottlingRateLimit": ADMIN_THROTTLE_RATE,
        }
    ]


def test_stage_logs_access_traces_and_throttles(synth):
    stage = synth.only("Dashboard", "AWS::ApiGateway::Stage")
    assert stage["TracingEnabled"] is True and "DestinationArn" in stage["AccessLogSetting"]
    [settings] = [m for m in stage["MethodSettings"] if m["ResourcePath"] == "/*"]
    assert settings["LoggingLevel"] == "ERROR" and settings["ThrottlingRateLimit"] > 0


def test_dashboard_lambda_reads_table_and_objects_only(synth):
    found = statements(synth.template("Dashboard"), "DashboardFunctionRole")
    allowed = actions(found) - {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
    assert "s3:GetObject" in allowed  # presigned links are signed with it
    assert not any(
        a.startswith(("s3:Put", "dynamodb:Put", "dynamodb:Update", "dynamodb:Delete", "states:", "scheduler:"))
        for a in allowed
    )


def test_admin_lambda_may_steer_the_schedule_start_runs_and_write_the_table(synth):
    found = statements(synth.template("Dashboard"), "AdminFunctionRole")
    allowed = actions(found)
    assert {
        "scheduler:GetSchedule",
        "scheduler:UpdateSchedule",
        "iam:PassRole",
        "states:StartExecution",
        "dynamodb:UpdateItem",
        "dynamodb:Query",
    } <= allowed
    [pass_role] = [s for s in found if "iam:PassRole" in as_list(s["Action"])]
    roles = imports(pass_role["Resource"])
    assert roles and all(name.startswith("AiV1-Schedule:") for name in roles)  # the run schedule's role only
    function = [f for k, f in synth.resources("Dashboard", "AWS::Lambda::Function").items() if k.startswith("Admin")]
    variables = function[0]["Properties"]["Environment"]["Variables"]
    assert {"AIV_SCHEDULE_NAME", "AIV_SCHEDULE_GROUP", "AIV_STATE_MACHINE_ARN"} <= set(variables)
    assert function[0]["Properties"]["Handler"] == "admin.handler"


def test_outputs_name_the_dashboard_and_the_stage_url_aiv_admin_calls(synth):
    outputs = synth.template("Dashboard")["Outputs"]
    assert outputs["DashboardUrl"]["Value"]["Fn::Join"][1][1]["Fn::GetAtt"][1] == "DomainName"
    [stage] = synth.resources("Dashboard", "AWS::ApiGateway::Stage")
    url = outputs["AdminApiUrl"]["Value"]["Fn::Join"][1]
    assert url[0] == "https://" and url[-2:] == [{"Ref": stage}, "/"]  # the stage URL; aiv admin adds /admin/...
