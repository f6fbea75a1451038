"""The schedule stack: the run schedule, the daily cost reader, and the budget alarm.

The run schedule (EventBridge Scheduler) starts the state machine at `schedule_rate` with
{"scheduled": true} (and {"corpus": schedule_corpus} when that is set: the clip set the runs train and
validate on), so that a run still going holds the next one back (stacks/pipeline.py), and is
DISABLED unless `schedule_enabled` is true: a fresh deploy starts nothing by itself. The admin
API pauses and resumes it (UpdateSchedule re-sends the target, so the admin role may pass the
schedule's role). The cost reader runs once a day: every Cost Explorer request costs $0.01.
The AWS Budgets budget exists only when `budget_email` is given (a budget nobody hears from
helps no one); it watches the project's cost through its `Project` tag.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_budgets as budgets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from constructs import Construct

from aiv.aws.costs import METRIC, PROJECT_TAG
from aiv.names import PROJECT, TABLE
from stacks import acknowledge, function_versions_finding
from stacks.bundling import LabFunction, LambdaCode
from stacks.pipeline import SCHEDULED_FLAG, PipelineStack
from stacks.settings import Settings
from stacks.storage import StorageStack

BUDGET_ALERTS = (("ACTUAL", 80), ("FORECASTED", 100))  # (notification type, % of the monthly limit)
START_RETRIES = 3  # a failed StartExecution is retried a few times ...
START_MAX_AGE = Duration.hours(1)  # ... but a run is never started more than an hour late


class ScheduleStack(Stack):
    """Exposes `group`, `runs` (the run schedule), `run_role` (its role), `costs` (the cost reader)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        storage: StorageStack,
        pipeline: PipelineStack,
        code: LambdaCode,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        store = storage.refs(self)
        # Deleted with the stack: a retained group keeps its generated name, and the next deploy after a
        # teardown would fail creating it again.
        self.group = scheduler.ScheduleGroup(self, "Group", removal_policy=RemovalPolicy.DESTROY)
        self.run_role = iam.Role(
            self,
            "RunsRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": self.account}}
            ),
            description="AiV1 run schedule: may start the pipeline's state machine",
        )
        self.runs = scheduler.Schedule(
            self,
            "Runs",
            schedule=scheduler.ScheduleExpression.expression(settings.schedule_rate),
            enabled=settings.schedule_enabled,
            schedule_group=self.group,
            description="AiV1: start a run of the pipeline (pause/resume with `aiv admin`)",
            target=targets.StepFunctionsStartExecution(
                pipeline.state_machine,
                input=scheduler.ScheduleTargetInput.from_object(
                    {SCHEDULED_FLAG: True, **({"corpus": settings.schedule_corpus} if settings.schedule_corpus else {})}
                ),
                role=self.run_role,
                retry_attempts=START_RETRIES,
                max_event_age=START_MAX_AGE,
            ),
        )
        CfnOutput(
            self,
            "RunScheduleName",
            value=self.runs.schedule_name,
            description=f"The run schedule ({settings.schedule_rate}) in group RunScheduleGroup",
        )
        CfnOutput(self, "RunScheduleGroup", value=self.group.schedule_group_name)
        self.costs = LabFunction(
            self,
            "CostsFunction",
            code=code,
            handler="costs.handler",
            service="aiv-costs",
            environment={TABLE: store.table_name, PROJECT: settings.project},
            retention_days=settings.log_retention_days,
            timeout=Duration.minutes(1),
            description="AiV1: this month's costs by CostCategory into the table, daily",
        )
        store.table.grant_read_write_data(self.costs.role)
        self.costs.role.add_to_principal_policy(iam.PolicyStatement(actions=["ce:GetCostAndUsage"], resources=["*"]))
        acknowledge(
            self.costs,
            {
                **store.findings("The cost reader", indexes=True),
                "AwsSolutions-IAM5[Resource::*]": "Cost Explorer's GetCostAndUsage has no resource-level permissions "
                "(it can only be granted on *); X-Ray's PutTraceSegments neither.",
            },
        )
        costs_role = iam.Role(
            self,
            "DailyCostsRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": self.account}}
            ),
            description="AiV1 daily cost schedule: may invoke the cost reader",
        )
        scheduler.Schedule(
            self,
            "DailyCosts",
            schedule=scheduler.ScheduleExpression.rate(Duration.days(1)),
            schedule_group=self.group,
            description="AiV1: read this month's costs once a day",
            target=targets.LambdaInvoke(self.costs.function, role=costs_role, retry_attempts=START_RETRIES),
        )
        acknowledge(
            costs_role,
            {
                function_versions_finding(self, self.costs.function): "Invoking the cost reader's versions and "
                "aliases (ARN:*), that function only."
            },
        )
        if settings.budget_email is not None:
            self._budget(settings)

    def _budget(self, settings: Settings) -> None:
        budgets.CfnBudget(
            self,
            "Budget",
            budget=budgets.CfnBudget.BudgetDataProperty(
                budget_type="COST",
                time_unit="MONTHLY",
                metrics=[METRIC],
                budget_limit=budgets.CfnBudget.SpendProperty(amount=settings.budget_usd, unit="USD"),
                filter_expression=budgets.CfnBudget.ExpressionProperty(
                    tags=budgets.CfnBudget.TagValuesProperty(
                        key=PROJECT_TAG, values=[settings.project], match_options=["EQUALS"]
                    )
                ),
            ),
            notifications_with_subscribers=[
                budgets.CfnBudget.NotificationWithSubscribersProperty(
                    notification=budgets.CfnBudget.NotificationProperty(
                        notification_type=kind,
                        comparison_operator="GREATER_THAN",
                        threshold=percent,
                        threshold_type="PERCENTAGE",
                    ),
                    subscribers=[
                        budgets.CfnBudget.SubscriberProperty(subscription_type="EMAIL", address=settings.budget_email)
                    ],
                )
                for kind, percent in BUDGET_ALERTS
            ],
        )
