"""cdk-nag (AwsSolutions): nothing left unacknowledged, and every acknowledgment answers a real finding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks

from stacks import acknowledge


def _report(outdir: Path) -> dict:
    return json.loads((outdir / "validation-report.json").read_text())


def _findings(report: dict) -> set[tuple[str, str]]:
    """(finding id, construct path) of every violation in a CDK validation report."""
    return {
        (violation["ruleName"], construct["constructPath"])
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
        for construct in violation["violatingConstructs"]
    }


def _covers(scope: str, path: str) -> bool:
    return path == scope or path.startswith(scope + "/")


def test_the_app_synthesizes_with_no_unacknowledged_finding(synth):
    assert synth.validation_error is None
    assert _findings(synth.validation_report() or {"pluginReports": []}) == set()


def test_every_finding_has_an_acknowledgment_and_every_acknowledgment_a_finding(variant):
    report = variant.validation_report()
    assert report is not None  # acknowledgments were recorded, not applied: the raw findings are all here
    findings = _findings(report)
    acknowledged = variant.acknowledgments
    unanswered = [
        (rule, path)
        for rule, path in findings
        if not any(rule == finding and _covers(scope, path) for scope, finding, _ in acknowledged)
    ]
    assert unanswered == []
    stale = [
        (scope, finding)
        for scope, finding, _ in acknowledged
        if not any(rule == finding and _covers(scope, path) for rule, path in findings)
    ]
    assert stale == []


def test_every_acknowledgment_gives_a_reason(variant):
    assert variant.acknowledgments
    for scope, finding, reason in variant.acknowledgments:
        assert len(reason) >= 40 and finding not in reason, f"{scope} {finding}: {reason!r}"


def _bare_bucket_app(outdir, acknowledged: dict[str, str]) -> App:
    app = App(outdir=str(outdir), builtin_cloud_formation_validation=False)
    bucket = s3.Bucket(Stack(app, "Probe"), "Bare")
    acknowledge(bucket, acknowledged)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


def test_cdk_nag_runs_at_synth_and_acknowledge_silences_exactly_one_finding(tmp_path):
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        _bare_bucket_app(tmp_path / "bare", {}).synth()
    raw = {rule for rule, _ in _findings(_report(tmp_path / "bare"))}
    assert {"AwsSolutions-S1", "AwsSolutions-S10"} <= raw
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        _bare_bucket_app(tmp_path / "one", {"AwsSolutions-S1": "a probe bucket in a test, never deployed"}).synth()
    left = {rule for rule, _ in _findings(_report(tmp_path / "one"))}
    assert left == raw - {"AwsSolutions-S1"}
