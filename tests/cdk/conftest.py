"""The CDK app synthesized once per test session (copy-only bundling: no Docker, no network, no AWS).

`synth` is the app as `cdk synth` would make it with cdk.json's context and the defaults of
stacks/settings.py, cdk-nag attached. `variant` is a second synth with the other branches of the
settings (cdk_app.VARIANT_CONTEXT: Bedrock instead of an API key secret, On-Demand instead of
Spot, a budget email, the schedule enabled at another rate) with cdk-nag's acknowledgments
recorded instead of applied, so tests/cdk/test_nag.py can hold every raw finding against the
acknowledgment that answers it. CDK's own CloudFormation schema check is off in both:
tests/cdk/test_cfn_lint.py runs cfn-lint, which checks more. tests/cdk is a package so that this
conftest never stands in for tests/conftest.py under the module name "conftest".
"""

from __future__ import annotations

import pytest

from .cdk_app import NAG_MODULES, VARIANT_CONTEXT, Synth, synthesize


@pytest.fixture(scope="session")
def synth(tmp_path_factory) -> Synth:
    """The app with the default settings, synthesized once."""
    return synthesize(tmp_path_factory.mktemp("cdk-out"), {})


@pytest.fixture(scope="session")
def variant(tmp_path_factory) -> Synth:
    """The app with VARIANT_CONTEXT; cdk-nag acknowledgments recorded, not applied."""
    recorded: list[tuple[str, str, str]] = []

    def record(scope, findings):
        recorded.extend((scope.node.path, finding, reason) for finding, reason in findings.items())

    with pytest.MonkeyPatch.context() as patch:
        for module in NAG_MODULES:
            patch.setattr(f"{module}.acknowledge", record)
        result = synthesize(tmp_path_factory.mktemp("cdk-out-variant"), VARIANT_CONTEXT)
    result.acknowledgments = recorded
    return result
