"""Every setting of the AWS app, with its default, in one place.

Each setting is a CDK context key: `cdk deploy -c spot=false -c max_vcpus=16`, or the "context"
block of cdk.json. Values from `-c` arrive as strings and are parsed here; a value that does not
parse is a SettingsError naming the key, what it got and what it accepts. Nothing else in stacks/
reads the context.

| key                        | default                       | what it sets                                         |
|----------------------------|-------------------------------|------------------------------------------------------|
| project                    | AiV1                          | the `Project` tag and the stack name prefix          |
| region                     | us-east-1                     | the region of every stack                            |
| instance_types             | g4dn.xlarge,g4dn.2xlarge      | Batch instance types (GPU_INSTANCES lists the known) |
| spot                       | true                          | Spot (price-capacity-optimized) or On-Demand         |
| max_vcpus                  | 8                             | Batch max vCPUs (8 = two g4dn.xlarge at once)        |
| candidates                 | 4                             | candidates per execution (the Map's items; at most   |
|                            |                               | MAX_CANDIDATES = 200, Step Functions' history quota)  |
| map_concurrency            | 2                             | candidates in flight at once (Map MaxConcurrency)    |
| proposer                   | claude                        | the default proposer ("claude" or "offline")         |
| model                      | (the lab's DEFAULT_MODEL)     | AIV_MODEL; unset = aiv.search.claude.DEFAULT_MODEL   |
| use_bedrock                | false                         | Claude through Bedrock instead of an API key secret  |
| schedule_rate              | rate(6 hours)                 | EventBridge Scheduler expression for runs            |
| schedule_enabled           | false                         | whether the schedule starts runs after deploy        |
| schedule_corpus            | (none)                        | a clip set (`aiv clips upload --corpus`) the         |
|                            |                               | scheduled runs train and validate on                 |
| budget_usd                 | 50                            | monthly AWS Budgets limit (USD)                      |
| budget_email               | (none)                        | budget alert address; no budget without it           |
| campaign                   | {}                            | AIV_SETTINGS: aiv.settings.CampaignSettings fields   |
| evaluation_timeout_minutes | 120                           | Batch job timeout                                    |
| runnable_timeout_minutes   | 30                            | cancel a job stuck in RUNNABLE after this long       |
| execution_timeout_hours    | 24                            | the state machine's overall TimeoutSeconds           |
| log_retention_days         | 30                            | CloudWatch Logs retention of every log group         |
| bundling                   | full                          | Lambda code: "full" (pip install) or "copy-only"     |
| existing_experiments_table | (none)                        | reattach a retained experiments table by its name    |
| existing_artifacts_bucket  | (none)                        | reattach a retained artifacts bucket by its name     |
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from aiv.names import PROPOSERS
from aiv.settings import CampaignSettings


class SettingsError(ValueError):
    """A context value that is not a valid setting."""


@dataclass(frozen=True)
class GpuInstance:
    """What Batch can place on one instance type: its vCPUs, memory and GPUs."""

    vcpus: int
    memory_gib: int
    gpus: int


# The g4dn sizes (NVIDIA T4), from the EC2 instance type pages: the job must fit on every type allowed.
GPU_INSTANCES: dict[str, GpuInstance] = {
    "g4dn.xlarge": GpuInstance(4, 16, 1),
    "g4dn.2xlarge": GpuInstance(8, 32, 1),
    "g4dn.4xlarge": GpuInstance(16, 64, 1),
    "g4dn.8xlarge": GpuInstance(32, 128, 1),
    "g4dn.12xlarge": GpuInstance(48, 192, 4),
    "g4dn.16xlarge": GpuInstance(64, 256, 1),
}
JOB_VCPUS = 4  # what one evaluation reserves: all of a g4dn.xlarge's vCPUs ...
JOB_MEMORY_MIB = 14 * 1024  # ... and 14 of its 16 GiB (the ECS agent and the OS keep the rest)
JOB_GPUS = 1
# Step Functions keeps at most 25,000 events in one execution's history, and an inline Map's items are in it.
# The longest path of a candidate item (rejected after evaluation three times, then neither the rejection nor the
# failure recorded) makes 107 history events (tests/aws/test_state_machine_e2e.py counts them as Step Functions
# does), and each Lambda throttling retry adds 3: 120 per candidate, and 1,000 for the seeds and the states
# around the Maps, keep an execution under the quota.
HISTORY_EVENT_QUOTA = 25_000
CANDIDATE_EVENTS_BUDGET = 120
RUN_EVENTS_BUDGET = 1_000
MAX_CANDIDATES = (HISTORY_EVENT_QUOTA - RUN_EVENTS_BUDGET) // CANDIDATE_EVENTS_BUDGET  # 200
BUNDLING_MODES = ("full", "copy-only")
# The retention periods CloudWatch Logs accepts, in days, with the name aws_logs.RetentionDays gives each.
LOG_RETENTION: dict[int, str] = {
    1: "ONE_DAY",
    3: "THREE_DAYS",
    5: "FIVE_DAYS",
    7: "ONE_WEEK",
    14: "TWO_WEEKS",
    30: "ONE_MONTH",
    60: "TWO_MONTHS",
    90: "THREE_MONTHS",
    120: "FOUR_MONTHS",
    150: "FIVE_MONTHS",
    180: "SIX_MONTHS",
    365: "ONE_YEAR",
    400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS",
    731: "TWO_YEARS",
    1096: "THREE_YEARS",
    1827: "FIVE_YEARS",
    2192: "SIX_YEARS",
    2557: "SEVEN_YEARS",
    2922: "EIGHT_YEARS",
    3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}
_SCHEDULE = re.compile(r"^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\))$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,30}$")
_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")  # DynamoDB's rule for table names
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")  # S3's rule for bucket names


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SettingsError(f"context '{key}' must be a non-empty string, got {value!r}")
    return value.strip()


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise SettingsError(f"context '{key}' must be true or false, got {value!r}")


def _int(key: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
        return int(value)
    raise SettingsError(f"context '{key}' must be a whole number, got {value!r}")


def _number(key: str, value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"context '{key}' must be a number, got {value!r}") from None


def _names(key: str, value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items or not all(isinstance(i, str) and i.strip() for i in items):
        raise SettingsError(f"context '{key}' must be a list of names (or a comma-separated string), got {value!r}")
    return tuple(i.strip() for i in items)


def _json_object(key: str, value: Any) -> dict:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"context '{key}' is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise SettingsError(f"context '{key}' must be a JSON object, got {value!r}")
    return value


def _optional(parse: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    return lambda key, value: None if value in (None, "") else parse(key, value)


@dataclass(frozen=True)
class Setting:
    """One context key: its default (None: unset) and how a context value is parsed."""

    default: Any
    parse: Callable[[str, Any], Any]


SETTINGS: dict[str, Setting] = {
    "project": Setting("AiV1", _text),
    "region": Setting("us-east-1", _text),
    "instance_types": Setting(("g4dn.xlarge", "g4dn.2xlarge"), _names),
    "spot": Setting(True, _bool),
    "max_vcpus": Setting(8, _int),
    "candidates": Setting(4, _int),
    "map_concurrency": Setting(2, _int),
    "proposer": Setting("claude", _text),
    "model": Setting(None, _optional(_text)),
    "use_bedrock": Setting(False, _bool),
    "schedule_rate": Setting("rate(6 hours)", _text),
    "schedule_enabled": Setting(False, _bool),
    "schedule_corpus": Setting(None, _optional(_text)),
    "budget_usd": Setting(50.0, _number),
    "budget_email": Setting(None, _optional(_text)),
    "campaign": Setting({}, _json_object),
    "evaluation_timeout_minutes": Setting(120, _int),
    "runnable_timeout_minutes": Setting(30, _int),
    "execution_timeout_hours": Setting(24, _int),
    "log_retention_days": Setting(30, _int),
    "bundling": Setting("full", _text),
    "existing_experiments_table": Setting(None, _optional(_text)),
    "existing_artifacts_bucket": Setting(None, _optional(_text)),
}


@dataclass(frozen=True)
class Settings:
    """The parsed, checked settings of one synth (field names are the context keys)."""

    project: str
    region: str
    instance_types: tuple[str, ...]
    spot: bool
    max_vcpus: int
    candidates: int
    map_concurrency: int
    proposer: str
    model: str | None
    use_bedrock: bool
    schedule_rate: str
    schedule_enabled: bool
    schedule_corpus: str | None
    budget_usd: float
    budget_email: str | None
    campaign: dict
    evaluation_timeout_minutes: int
    runnable_timeout_minutes: int
    execution_timeout_hours: int
    log_retention_days: int
    bundling: str
    existing_experiments_table: str | None
    existing_artifacts_bucket: str | None

    def __post_init__(self) -> None:
        self._check()

    @classmethod
    def from_context(cls, context: Mapping[str, Any] | Callable[[str], Any]) -> "Settings":
        """The settings from CDK context: a mapping, or a lookup such as `app.node.try_get_context`.

        An unset key takes its default.
        """
        lookup = context.get if isinstance(context, Mapping) else context
        values = {}
        for key, setting in SETTINGS.items():
            raw = lookup(key)
            values[key] = setting.default if raw is None else setting.parse(key, raw)
        return cls(**values)

    def _check(self) -> None:
        if not _NAME.match(self.project):
            raise SettingsError(
                f"context 'project' must start with a letter and hold only letters, digits and "
                f"hyphens (at most 31), got {self.project!r}"
            )
        unknown = [t for t in self.instance_types if t not in GPU_INSTANCES]
        if unknown:
            raise SettingsError(
                f"context 'instance_types' has {unknown}, not among the known GPU instance types "
                f"{sorted(GPU_INSTANCES)}"
            )
        small = [
            t
            for t in self.instance_types
            if GPU_INSTANCES[t].vcpus < JOB_VCPUS or GPU_INSTANCES[t].memory_gib * 1024 <= JOB_MEMORY_MIB
        ]
        if small:
            raise SettingsError(f"the evaluation job ({JOB_VCPUS} vCPUs, {JOB_MEMORY_MIB} MiB) does not fit {small}")
        if self.max_vcpus < JOB_VCPUS:
            raise SettingsError(
                f"context 'max_vcpus' must be at least {JOB_VCPUS} (one evaluation job), got {self.max_vcpus}"
            )
        if not 1 <= self.candidates <= MAX_CANDIDATES:
            raise SettingsError(
                f"context 'candidates' must be from 1 to {MAX_CANDIDATES} (what fits one "
                f"execution's history), got {self.candidates}"
            )
        if self.map_concurrency < 1:
            raise SettingsError(f"context 'map_concurrency' must be at least 1, got {self.map_concurrency}")
        if self.proposer not in PROPOSERS:
            raise SettingsError(f"context 'proposer' must be one of {list(PROPOSERS)}, got {self.proposer!r}")
        if not _SCHEDULE.match(self.schedule_rate):
            raise SettingsError(
                f"context 'schedule_rate' must be 'rate(N minutes|hours|days)' or 'cron(...)', "
                f"got {self.schedule_rate!r}"
            )
        if self.budget_usd <= 0:
            raise SettingsError(f"context 'budget_usd' must be positive, got {self.budget_usd}")
        if self.budget_email is not None and not _EMAIL.match(self.budget_email):
            raise SettingsError(f"context 'budget_email' is not an email address: {self.budget_email!r}")
        known = {f.name for f in dataclasses.fields(CampaignSettings)}
        unknown_fields = sorted(set(self.campaign) - known)
        if unknown_fields:
            raise SettingsError(
                f"context 'campaign' has unknown fields {unknown_fields}; "
                f"aiv.settings.CampaignSettings has {sorted(known)}"
            )
        if not 1 <= self.evaluation_timeout_minutes <= 24 * 60:
            raise SettingsError(
                f"context 'evaluation_timeout_minutes' must be from 1 to 1440, got {self.evaluation_timeout_minutes}"
            )
        if not 10 <= self.runnable_timeout_minutes <= 24 * 60:
            raise SettingsError(
                f"context 'runnable_timeout_minutes' must be from 10 to 1440 (AWS Batch's range), "
                f"got {self.runnable_timeout_minutes}"
            )
        if not 1 <= self.execution_timeout_hours <= 24 * 365:
            raise SettingsError(
                f"context 'execution_timeout_hours' must be from 1 to 8760 (Step Functions' one "
                f"year), got {self.execution_timeout_hours}"
            )
        if self.log_retention_days not in LOG_RETENTION:
            raise SettingsError(
                f"context 'log_retention_days' must be one of {list(LOG_RETENTION)}, got {self.log_retention_days}"
            )
        if self.bundling not in BUNDLING_MODES:
            raise SettingsError(f"context 'bundling' must be one of {list(BUNDLING_MODES)}, got {self.bundling!r}")
        for key, name, rule in (
            ("existing_experiments_table", self.existing_experiments_table, _TABLE_NAME),
            ("existing_artifacts_bucket", self.existing_artifacts_bucket, _BUCKET_NAME),
        ):
            if name is not None and not rule.match(name):
                raise SettingsError(f"context '{key}' is not a valid name: {name!r}")

    def stack_name(self, part: str) -> str:
        """The CloudFormation name of one stack, e.g. AiV1-Storage."""
        return f"{self.project}-{part}"

    @property
    def campaign_json(self) -> str:
        """AIV_SETTINGS: the campaign settings as JSON ("{}" means the lab's defaults)."""
        return json.dumps(self.campaign, sort_keys=True)
