"""The state machine of a synthesized pipeline template as an executable ASL dict, for the tests
that read or run it (tests/cdk/test_pipeline_stack.py, tests/aws/test_state_machine_e2e.py)."""

from __future__ import annotations

import json
from typing import Any, Mapping

PSEUDO_PARAMETERS = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::URLSuffix": "amazonaws.com",
}


def state_machine_definition(template: Mapping[str, Any], substitutions: Mapping[str, str] | None = None) -> dict:
    """The ASL definition (a dict) of the one state machine in a synthesized template, ready to execute.

    The template's DefinitionString is an Fn::Join of JSON text and references; each reference
    becomes a string: `Ref` and `Fn::GetAtt` to a resource become its logical id (a Lambda task's
    "Resource" is its function's logical id, e.g. "ProposeFunction1A2B3C4D"; the template's
    AWS::Lambda::Function of that id names the handler), `Fn::ImportValue` becomes the export name
    (the Batch job queue and job definition, exported by the compute stack), and pseudo parameters
    become PSEUDO_PARAMETERS' values. `substitutions` maps any of those ids, export names or
    pseudo parameters to the string to use instead (e.g. a function's ARN in moto).
    """
    machines = [
        resource
        for resource in template.get("Resources", {}).values()
        if resource.get("Type") == "AWS::StepFunctions::StateMachine"
    ]
    if len(machines) != 1:
        raise ValueError(f"the template holds {len(machines)} state machines, not exactly one")
    definition = machines[0]["Properties"]["DefinitionString"]
    if isinstance(definition, str):
        return json.loads(definition)
    if not (isinstance(definition, dict) and list(definition) == ["Fn::Join"] and definition["Fn::Join"][0] == ""):
        raise ValueError(f"DefinitionString is neither a string nor an Fn::Join with '' as separator: {definition!r}")
    names = {**PSEUDO_PARAMETERS, **(substitutions or {})}
    return json.loads(
        "".join(part if isinstance(part, str) else _reference(part, names) for part in definition["Fn::Join"][1])
    )


def _reference(part: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """The string standing for one intrinsic of a DefinitionString."""
    if "Ref" in part:
        key = part["Ref"]
    elif "Fn::GetAtt" in part:
        key = part["Fn::GetAtt"][0]
    elif "Fn::ImportValue" in part and isinstance(part["Fn::ImportValue"], str):
        key = part["Fn::ImportValue"]
    else:
        raise ValueError(f"DefinitionString holds an intrinsic this reader does not resolve: {part!r}")
    return names.get(key, key)
