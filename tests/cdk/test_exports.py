"""Cross-stack exports stay the same from deploy to deploy: CloudFormation refuses to change an export another
stack imports, and each commit builds a new GPU image, i.e. a new job definition revision."""

from __future__ import annotations

import pytest

import aiv.provenance

from .cdk_app import STACK_PARTS, Synth, synthesize

COMMITS = ("1" * 40, "2" * 40)


@pytest.fixture(scope="module")
def two_commits(tmp_path_factory) -> tuple[Synth, Synth]:
    """The app synthesized at two clean commits (the commit is the GPU image's build argument)."""
    synths = []
    for commit in COMMITS:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(aiv.provenance, "lab_commit", lambda commit=commit: {"commit": commit, "dirty": False})
            synths.append(synthesize(tmp_path_factory.mktemp(f"cdk-out-{commit[0]}"), {}))
    return synths[0], synths[1]


def exports(synth: Synth) -> dict[str, tuple[str, object]]:
    """{export name: (its stack part, its value)} over every stack."""
    return {
        output["Export"]["Name"]: (part, output["Value"])
        for part in STACK_PARTS
        for output in synth.template(part).get("Outputs", {}).values()
        if "Export" in output
    }


def referenced(value: object) -> set[str]:
    """The logical ids a template value refers to (Ref, Fn::GetAtt), at any depth."""
    if isinstance(value, dict):
        found = {value["Ref"]} if isinstance(value.get("Ref"), str) else set()
        if "Fn::GetAtt" in value:
            found.add(value["Fn::GetAtt"][0])
        return found.union(*(referenced(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(referenced(v) for v in value))
    return set()


def job_image(synth: Synth) -> object:
    return synth.only("Compute", "AWS::Batch::JobDefinition")["ContainerProperties"]["Image"]


def test_a_new_commit_builds_a_new_image(two_commits):
    first, second = two_commits
    assert job_image(first) != job_image(second)  # so a deploy registers a new job definition revision


def test_a_new_commit_changes_no_cross_stack_export(two_commits):
    """An export's value is the same text in both templates; what it names must not change either: a resource
    whose properties differ between the two is updated by the deploy, and its Ref or attribute may change
    with it (a job definition's Ref is the new revision's ARN)."""
    first, second = two_commits
    assert exports(first).keys() == exports(second).keys() and exports(first)
    for name, (part, value) in exports(first).items():
        assert exports(second)[name] == (part, value), name
        resources = (first.template(part)["Resources"], second.template(part)["Resources"])
        for logical_id in referenced(value) - {"AWS::Partition", "AWS::Region", "AWS::AccountId", "AWS::URLSuffix"}:
            assert resources[0][logical_id] == resources[1][logical_id], (
                f"export {name} names {logical_id}, which a new commit changes"
            )
