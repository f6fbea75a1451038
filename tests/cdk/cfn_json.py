"""Small readers of synthesized CloudFormation JSON shared by the CDK tests."""

from __future__ import annotations

from typing import Any


def as_list(value: Any) -> list:
    """A CloudFormation "one or many" value (Action, Resource) as a list."""
    return value if isinstance(value, list) else [value]


def statements(template: dict, policy_id_prefix: str) -> list[dict]:
    """The statements of every AWS::IAM::Policy whose logical id starts with `policy_id_prefix`."""
    return [
        statement
        for key, resource in template["Resources"].items()
        if resource["Type"] == "AWS::IAM::Policy" and key.startswith(policy_id_prefix)
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]


def actions(found: list[dict]) -> set[str]:
    """Every action the statements allow."""
    return {action for statement in found if statement["Effect"] == "Allow" for action in as_list(statement["Action"])}


def imports(value: Any) -> set[str]:
    """The export names an intrinsic-laden value imports (Fn::ImportValue anywhere inside it)."""
    if isinstance(value, dict):
        if "Fn::ImportValue" in value:
            return {value["Fn::ImportValue"]}
        return set().union(*(imports(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(imports(v) for v in value)) if value else set()
    return set()
