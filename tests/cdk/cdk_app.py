"""The CDK app as the tests synthesize it: the Synth record, cdk.json's context, `synthesize`.

Kept apart from conftest.py so test modules import it by name (conftest modules are not for
importing: another folder's conftest.py can stand in sys.modules under the same name).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # app.py and stacks/ live at the repository root, beside aiv/

from aws_cdk.assertions import Template  # noqa: E402

from app import build_app  # noqa: E402
from stacks.settings import Settings  # noqa: E402

STACK_PARTS = ("Storage", "Compute", "Pipeline", "Schedule", "Dashboard")
VARIANT_CONTEXT = {
    "use_bedrock": "true",
    "spot": "false",
    "budget_email": "lab@example.com",
    "schedule_enabled": "true",
    "schedule_rate": "rate(2 hours)",
    "schedule_corpus": "derf-cif",
}
NAG_MODULES = (
    "stacks.bundling",
    "stacks.storage",
    "stacks.compute",
    "stacks.pipeline",
    "stacks.schedule",
    "stacks.dashboard",
)


@dataclass
class Synth:
    """One synthesized app: its settings, templates by stack part, and cdk-nag's report if it failed."""

    settings: Settings
    outdir: Path
    templates: dict[str, dict]
    validation_error: str | None
    acknowledgments: list[tuple[str, str, str]] = field(default_factory=list)  # (construct path, id, reason)
    _assertions: dict[str, Template] = field(default_factory=dict)

    def template(self, part: str) -> dict:
        """The CloudFormation template of one stack ("Storage", "Compute", ...), as JSON."""
        return self.templates[part]

    def assertions(self, part: str) -> Template:
        """aws_cdk.assertions.Template of one stack (made once)."""
        if part not in self._assertions:
            self._assertions[part] = Template.from_json(self.templates[part])
        return self._assertions[part]

    def resources(self, part: str, cfn_type: str) -> dict[str, dict]:
        """Logical id -> resource of one type in one stack."""
        return {key: value for key, value in self.templates[part]["Resources"].items() if value["Type"] == cfn_type}

    def only(self, part: str, cfn_type: str) -> dict:
        """The properties of the one resource of `cfn_type` in the stack (fails if not exactly one)."""
        found = list(self.resources(part, cfn_type).values())
        assert len(found) == 1, f"{part} has {len(found)} {cfn_type}, expected 1"
        return found[0]["Properties"]

    def validation_report(self) -> dict | None:
        """cdk-nag's validation report (CDK writes it to the cloud assembly only when a plugin fails)."""
        path = self.outdir / "validation-report.json"
        return json.loads(path.read_text()) if path.exists() else None


def cdk_json_context() -> dict[str, Any]:
    """The context block of cdk.json: what the CDK CLI passes the app."""
    return json.loads((ROOT / "cdk.json").read_text())["context"]


def synthesize(outdir: Path, extra: dict[str, Any]) -> Synth:
    """Build and synth the app into `outdir`; a cdk-nag failure is recorded, not raised."""
    app = build_app(
        {**cdk_json_context(), "bundling": "copy-only", **extra}, outdir=str(outdir), cloudformation_validation=False
    )
    settings = Settings.from_context(app.node.try_get_context)
    try:
        app.synth()
        error = None
    except RuntimeError as exc:  # jsii surfaces CDK's ValidationError as a RuntimeError
        if "ValidationFailed" not in str(exc):
            raise
        error = str(exc)
    templates = {
        part: json.loads((outdir / f"{settings.stack_name(part)}.template.json").read_text()) for part in STACK_PARTS
    }
    return Synth(settings, outdir, templates, error)
