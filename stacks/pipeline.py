"""The pipeline stack: the step Lambdas and the state machine that runs K candidates per execution.

Execution input: {"candidates"?: K, "proposer"?: "claude"|"offline", "seed"?: n, "rerun_of"?: id, "seeds"?: names,
"corpus"?: set}; each absent key takes its default (settings; the seed is random per execution; no corpus: the
clips of AIV_SETTINGS). "corpus" names a set uploaded with `aiv clips upload --corpus`: every step but mark_failed,
and the GPU job (--corpus), train and validate on its manifest's clips (aiv/aws/clips.py). Then

    Scheduled? -> Defaults -> Configure (States.JsonMerge) -> CandidatesInRange? -> Items (States.ArrayRange(1, K, 1),
      and the seed names) -> Seeds (Map over "seeds": aiv.codec.builtin.BUILTIN_CODECS by default; an admin import
      adds "import:<id>") -> Candidates (Map; item i gets random_seed = seed + i)

both Maps with MaxConcurrency from settings. A run the schedule starts ({"scheduled": true}) first lists
this state machine's RUNNING executions and ends in AnotherRunInProgress, starting nothing, when one
besides itself is running: runs may last up to execution_timeout_hours, longer than the schedule's
period. K outside 1..settings.MAX_CANDIDATES (what fits Step Functions' history quota of an inline Map)
ends the execution in CandidatesOutOfRange, before anything runs. Each seed item puts one built-in codec in the archive
and, the first time only, evaluates it as a candidate is evaluated (aiv/runner.py's evaluate_seed):

    Seed -> SeedCreated? -> ValidateSeed -> SeedValid? -> EvaluateSeed (Batch .sync) -> RecordSeed -> SeedRejected?
              | no: SeedArchived           | no: MarkSeedRejected (status rejected)      | yes: MarkSeedRejected

Seeds' outcomes are discarded (ResultPath null): the execution's output is the candidates'. A seed
that fails does not stop the candidates; with no succeeded experiment at all, each candidate's
proposal fails with EmptyArchive, recorded as a campaign event. Each candidate item runs

    Propose -> Proposed? -> Validate -> Valid? -> Evaluate (Batch .sync) -> Record -> Rejected? -> Recorded
       ^          | no          | no                                          | yes
       +----------+-------------+----------- Retry (attempt + 1, with feedback) <- AttemptsLeft? (retry and attempt < 3)
                                                                               | no: MarkRejected (status rejected)

where AttemptsLeft? is aiv/candidate_loop.py's next_after_rejection as a Choice: every rejection
carries "retry" (false for a rerun, which is proposed once) and the item counts its attempts.

with a Catch of States.ALL on every task to MarkFailed (MarkSeedFailed in a seed item) with
{"experiment_id", "stage", "error": the caught {"Error", "Cause"?}} (mark_failed reads the Cause,
or the Error's name when an error has none); when the failure came before any experiment existed,
the id is NONE and mark_failed records a campaign-level event. MarkFailed itself has a Catch too:
when even recording fails, the item ends in Unrecorded ({"status": "failed", "recorded": false,
"error", "close_error": the two errors' names}) instead of failing the Map and, with it, every sibling's GPU job. Every Lambda
gets {"execution", "step", "attempt", "item", "input"} (aiv/aws/step_handler.py) and returns the
step's output, which lands in the item state at `$.last`. "No experiment yet" and "not a rerun"
are the empty string (NONE) and "no feedback" is {}: CDK cannot write a JSON null.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import ArnFormat, CfnOutput, Duration, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from aiv.aws.claude_limits import PROPOSE_LAMBDA_TIMEOUT_S
from aiv.candidate_loop import MAX_PROPOSAL_ATTEMPTS, RETRY_FIELD
from aiv.codec.builtin import BUILTIN_CODECS
from aiv.names import RESULT_KEY_FORMAT
from stacks import acknowledge, function_versions_finding
from stacks.bundling import LabFunction, LambdaCode, log_group
from stacks.compute import ENTRY_COMMAND, ComputeStack
from stacks.settings import MAX_CANDIDATES, Settings
from stacks.storage import StorageRefs, StorageStack, lab_environment

SEED_RANGE = (1, 1_000_000_000)  # a random base seed per execution; item i gets base + i
ITEM_FIELDS = ("item", "run_id", "proposer", "random_seed", "rerun_of", "corpus")  # what every step of one item carries
PROPOSE_FIELDS = (
    "run_id",
    "proposer",
    "random_seed",
    "rerun_of",
    "experiment_id",
    "feedback",
)  # aiv.pipeline.events.ProposeEvent
REJECTION = {
    "experiment_id.$": "$.last.experiment_id",
    "stage.$": "$.last.stage",
    "reason.$": "$.last.reason",
    "status": "rejected",
}  # mark_failed's input after a rejection that ends the item
NONE = ""  # "no experiment yet" / "not a rerun": CDK cannot write a JSON null into a state's parameters
_TASK_RETRYABLE = ["Lambda.TooManyRequestsException"]  # throttling, on top of LambdaInvoke's service errors
SCHEDULED_FLAG = "scheduled"  # the schedule's execution input {"scheduled": true}: runs that must not overlap


class PipelineStack(Stack):
    """Exposes `state_machine` and `functions` (step name -> LabFunction)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        storage: StorageStack,
        compute: ComputeStack,
        code: LambdaCode,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        store = storage.refs(self)
        environment = lab_environment(settings, store)
        self.functions = {
            name: LabFunction(
                self,
                f"{name.title().replace('_', '')}Function",
                code=code,
                handler=f"{name}.handler",
                service=f"aiv-{name.replace('_', '-')}",
                environment=environment,
                retention_days=settings.log_retention_days,
                timeout=timeout,
                memory_mib=memory,
                description=f"AiV1 pipeline step: {name}",
            )
            for name, timeout, memory in (
                ("seed", Duration.minutes(1), 512),
                ("propose", Duration.seconds(PROPOSE_LAMBDA_TIMEOUT_S), 1024),
                ("validate", Duration.minutes(2), 512),
                ("record", Duration.minutes(2), 512),
                ("mark_failed", Duration.minutes(1), 256),
            )
        }
        self._grant(settings, store)
        self.state_machine = self._state_machine(settings, compute)
        CfnOutput(
            self,
            "StateMachineArn",
            value=self.state_machine.state_machine_arn,
            description='Start a run: Step Functions console, Start execution, input {} (or {"candidates": 2})',
        )

    def _grant(self, settings: Settings, storage: StorageRefs) -> None:
        for name, step in self.functions.items():
            storage.table.grant_read_write_data(step.role)
            storage.idempotency_table.grant_read_write_data(step.role)
            reads = name != "mark_failed"
            if reads:
                storage.grant_objects(step.role, write=name in ("seed", "propose"))  # they write code/<sha>.py
            acknowledge(step, storage.findings(f"The {name} step", objects=reads, indexes=True))
        propose = self.functions["propose"]
        if storage.api_key is not None:
            storage.api_key.grant_read(propose.role)
        if settings.use_bedrock:
            models = (
                f"arn:{self.partition}:bedrock:*::foundation-model/anthropic.*",
                f"arn:{self.partition}:bedrock:*:{self.account}:inference-profile/*anthropic.*",
            )
            propose.role.add_to_principal_policy(
                iam.PolicyStatement(actions=["bedrock:InvokeModel"], resources=list(models))
            )
            acknowledge(
                propose,
                {
                    f"AwsSolutions-IAM5[Resource::{_nag_text(self, model)}]": (
                        "Claude through Bedrock: any Anthropic model (the model is a setting) in any region a cross-region "
                        "inference profile routes to; no other provider's models."
                    )
                    for model in models
                },
            )

    def _state_machine(self, settings: Settings, compute: ComputeStack) -> sfn.StateMachine:
        seeds = sfn.Map(
            self,
            "Seeds",
            items_path="$.seeds",
            max_concurrency=settings.map_concurrency,
            item_selector={
                "item.$": "$$.Map.Item.Index",
                "attempt": 1,
                "run_id.$": "$$.Execution.Name",
                "name.$": "$$.Map.Item.Value",
                "corpus.$": "$.run.corpus",
            },
            result_path=sfn.JsonPath.DISCARD,
        )
        seeds.item_processor(self._seed_item(compute))
        candidates = sfn.Map(
            self,
            "Candidates",
            items_path="$.items",
            max_concurrency=settings.map_concurrency,
            item_selector={
                "item.$": "$$.Map.Item.Index",
                "attempt": 1,
                "run_id.$": "$$.Execution.Name",
                "proposer.$": "$.run.proposer",
                "rerun_of.$": "$.run.rerun_of",
                "random_seed.$": "States.MathAdd($.run.seed, $$.Map.Item.Value)",
                "corpus.$": "$.run.corpus",
                "experiment_id": NONE,
                "feedback": {},
            },
        )
        candidates.item_processor(self._candidate_item(compute))
        defaults = sfn.Pass(
            self,
            "Defaults",
            parameters={
                "input.$": "$$.Execution.Input",
                "defaults": {
                    "candidates": settings.candidates,
                    "proposer": settings.proposer,
                    "rerun_of": NONE,
                    "seeds": list(BUILTIN_CODECS),
                    "corpus": NONE,
                    "seed.$": f"States.MathRandom({SEED_RANGE[0]}, {SEED_RANGE[1]})",
                },
            },
        )
        configure = sfn.Pass(self, "Configure", parameters={"run.$": "States.JsonMerge($.defaults, $.input, false)"})
        items = sfn.Pass(
            self,
            "Items",
            parameters={
                "run.$": "$.run",
                "seeds.$": "$.run.seeds",
                "items.$": "States.ArrayRange(1, $.run.candidates, 1)",
            },
        )
        in_range = (
            sfn.Choice(self, "CandidatesInRange?")
            .when(
                sfn.Condition.or_(
                    sfn.Condition.not_(sfn.Condition.is_numeric("$.run.candidates")),
                    sfn.Condition.number_less_than("$.run.candidates", 1),
                    sfn.Condition.number_greater_than("$.run.candidates", MAX_CANDIDATES),
                ),
                sfn.Fail(
                    self,
                    "CandidatesOutOfRange",
                    error="CandidatesOutOfRange",
                    cause=f"candidates must be a whole number from 1 to {MAX_CANDIDATES}: an inline Map of more "
                    f"would pass Step Functions' 25,000 history events (stacks/settings.py)",
                ),
            )
            .otherwise(items)
        )
        items.next(seeds).next(candidates)
        logs_group = log_group(self, "StateMachineLogs", settings.log_retention_days)
        machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=settings.stack_name("Pipeline"),
            definition_body=sfn.DefinitionBody.from_chainable(
                self._overlap_guard(settings, defaults.next(configure).next(in_range))
            ),
            timeout=Duration.hours(settings.execution_timeout_hours),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=logs_group, level=sfn.LogLevel.ALL, include_execution_data=True),
        )
        # Batch .sync: Step Functions follows the job with DescribeJobs and, when the execution stops
        # (aborted, timed out, or the Map fails), terminates it so no GPU keeps running.
        self._grant_jobs(machine, compute)
        self._acknowledge_role(machine, compute)
        return machine

    def _overlap_guard(self, settings: Settings, run: sfn.IChainable) -> sfn.IChainable:
        """Scheduled? -> ListRunning -> Overlapping? -> AnotherRunInProgress (Succeed), else `run`.

        Only a scheduled execution is held back; one started from the console or the admin API runs anyway.
        """
        running = tasks.CallAwsService(
            self,
            "ListRunning",
            service="sfn",
            action="listExecutions",
            parameters={
                "StateMachineArn": sfn.JsonPath.string_at("$$.StateMachine.Id"),
                "StatusFilter": "RUNNING",
                "MaxResults": 2,
            },
            iam_resources=[
                self.format_arn(
                    service="states",
                    resource="stateMachine",
                    resource_name=settings.stack_name("Pipeline"),
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
            iam_action="states:ListExecutions",
            result_selector={"count.$": "States.ArrayLength($.Executions)"},
            result_path="$.running",
        )
        running.next(
            sfn.Choice(self, "Overlapping?")
            .when(
                sfn.Condition.number_greater_than("$.running.count", 1),
                sfn.Succeed(
                    self,
                    "AnotherRunInProgress",
                    comment="a scheduled run while another execution runs: nothing started",
                ),
            )
            .otherwise(run)
        )
        return (
            sfn.Choice(self, "Scheduled?")
            .when(
                sfn.Condition.and_(
                    sfn.Condition.is_present(f"$.{SCHEDULED_FLAG}"),
                    sfn.Condition.boolean_equals(f"$.{SCHEDULED_FLAG}", True),
                ),
                running,
            )
            .otherwise(run)
        )

    def _seed_item(self, compute: ComputeStack) -> sfn.IChainable:
        """One built-in codec: Seed -> SeedCreated? -> ValidateSeed -> SeedValid? -> EvaluateSeed -> RecordSeed ->
        SeedRejected? -> SeedRecorded; a codec already in the store ends in SeedArchived, a rejection in
        MarkSeedRejected (status rejected), any task's error in MarkSeedFailed. No retry: a built-in codec
        that fails stays failed, with its reason, and the candidates go on."""
        mark_failed = self._close_failure("MarkSeedFailed")
        seed = self._invoke("Seed", "seed", {"run_id.$": "$.run_id", "name.$": "$.name"})
        validate = self._invoke("ValidateSeed", "validate", "$.last")
        evaluate = self._evaluate("EvaluateSeed", compute)
        record = self._record("RecordSeed")
        mark_rejected = self._close("MarkSeedRejected", REJECTION)
        self._catch(seed, "seed", None, mark_failed)
        for task, stage in (
            (validate, "validate"),
            (evaluate, "evaluate"),
            (record, "record"),
            (mark_rejected, "mark_rejected"),
        ):
            self._catch(task, stage, "$.last.experiment_id", mark_failed)
        seed.next(
            sfn.Choice(self, "SeedCreated?")
            .when(sfn.Condition.boolean_equals("$.last.created", True), validate)
            .otherwise(
                sfn.Pass(self, "SeedArchived", comment="evaluated by an earlier execution", output_path="$.last")
            )
        )
        validate.next(
            sfn.Choice(self, "SeedValid?")
            .when(sfn.Condition.boolean_equals("$.last.valid", True), evaluate)
            .otherwise(mark_rejected)
        )
        evaluate.next(record)
        record.next(
            sfn.Choice(self, "SeedRejected?")
            .when(sfn.Condition.boolean_equals("$.last.rejected", True), mark_rejected)
            .otherwise(sfn.Pass(self, "SeedRecorded", output_path="$.last"))
        )
        return seed

    def _candidate_item(self, compute: ComputeStack) -> sfn.IChainable:
        """One candidate: the loop of the module docstring."""
        mark_failed = self._close_failure("MarkFailed")
        propose = self._invoke("Propose", "propose", {f"{field}.$": f"$.{field}" for field in PROPOSE_FIELDS})
        validate = self._invoke("Validate", "validate", "$.last")
        evaluate = self._evaluate("Evaluate", compute)
        record = self._record("Record")
        mark_rejected = self._close("MarkRejected", REJECTION)
        self._catch(propose, "propose", "$.experiment_id", mark_failed)
        for task, stage in (
            (validate, "validate"),
            (evaluate, "evaluate"),
            (record, "record"),
            (mark_rejected, "mark_rejected"),
        ):
            self._catch(task, stage, "$.last.experiment_id", mark_failed)
        retry = sfn.Pass(
            self,
            "Retry",
            comment="the same candidate again, with the rejection's reason",
            parameters={
                **{f"{field}.$": f"$.{field}" for field in ITEM_FIELDS},
                "attempt.$": "States.MathAdd($.attempt, 1)",
                "experiment_id.$": "$.last.experiment_id",
                "feedback": {"stage.$": "$.last.stage", "reason.$": "$.last.reason"},
            },
        )
        retry.next(propose)
        rejected = (
            sfn.Choice(self, "AttemptsLeft?")
            .when(
                sfn.Condition.and_(
                    sfn.Condition.boolean_equals(f"$.last.{RETRY_FIELD}", True),
                    sfn.Condition.number_less_than("$.attempt", MAX_PROPOSAL_ATTEMPTS),
                ),
                retry,
            )
            .otherwise(mark_rejected)
        )
        recorded = sfn.Pass(self, "Recorded", output_path="$.last")
        propose.next(
            sfn.Choice(self, "Proposed?")
            .when(sfn.Condition.boolean_equals("$.last.proposed", True), validate)
            .otherwise(rejected)
        )
        validate.next(
            sfn.Choice(self, "Valid?")
            .when(sfn.Condition.boolean_equals("$.last.valid", True), evaluate)
            .otherwise(rejected)
        )
        evaluate.next(record)
        record.next(
            sfn.Choice(self, "Rejected?")
            .when(sfn.Condition.boolean_equals("$.last.rejected", True), rejected)
            .otherwise(recorded)
        )
        return propose

    def _catch(
        self,
        task: sfn.TaskStateBase | sfn.CustomState,
        stage: str,
        experiment_path: str | None,
        mark_failed: tasks.LambdaInvoke,
    ) -> None:
        """Any error of `task` -> {"experiment_id", "stage", "reason": the error's Cause} at $.failure -> mark_failed.

        Without `experiment_path` (no experiment can exist yet) the id is NONE, and mark_failed records
        a campaign-level event instead.
        """
        experiment = {"experiment_id.$": experiment_path} if experiment_path else {"experiment_id": NONE}
        failed = sfn.Pass(
            self,
            f"{task.node.id}Failed",
            result_path="$.failure",
            parameters={**experiment, "stage": stage, "error.$": "$.error"},
        )  # Cause may be absent
        task.add_catch(failed.next(mark_failed), errors=["States.ALL"], result_path="$.error")

    def _close(self, state: str, step_input: str | dict) -> tasks.LambdaInvoke:
        """A mark_failed task whose output (what mark_failed returns) is the item's output."""
        return self._invoke(state, "mark_failed", step_input, result_path="$.outcome", output_path="$.outcome")

    def _close_failure(self, state: str) -> tasks.LambdaInvoke:
        """The mark_failed task after a Catch (input $.failure), itself caught: if recording fails, the item ends
        in `<state>Unrecorded` with the error, and the Map and its sibling items go on."""
        close = self._close(state, "$.failure")
        # The errors' names only: an item's output is one of up to MAX_CANDIDATES in the Map's output (256 KiB
        # in all); their Causes are in the execution's history.
        close.add_catch(
            sfn.Pass(
                self,
                f"{state}Unrecorded",
                comment="mark_failed failed: the failure is in the execution's output and history only",
                parameters={
                    "experiment_id.$": "$.failure.experiment_id",
                    "status": "failed",
                    "recorded": False,
                    "stage.$": "$.failure.stage",
                    "error.$": "$.failure.error.Error",
                    "close_error.$": "$.close_error.Error",
                },
            ),
            errors=["States.ALL"],
            result_path="$.close_error",
        )
        return close

    def _evaluate(self, state: str, compute: ComputeStack) -> sfn.CustomState:
        """The GPU job evaluating the experiment at $.last.experiment_id; waits for it (.sync).

        By the job definition's name (an ARN without revision): Batch takes the latest active revision,
        and no export changes with the image (stacks/compute.py). A CustomState rather than CDK's
        BatchSubmitJob, whose grant is fixed to every job definition (job-definition/*); the state
        machine's role gets `_grant_jobs` instead.
        """
        command = ", ".join(
            [*(f"'{part}'" for part in ENTRY_COMMAND), "$.last.experiment_id", "'--corpus'", "$.corpus"]
        )
        return sfn.CustomState(
            self,
            state,
            state_json={
                "Type": "Task",
                "Resource": f"arn:{self.partition}:states:::batch:submitJob.sync",
                "Parameters": {
                    "JobDefinition": self._job_definition_arn(compute, ""),
                    "JobName.$": "States.Format('evaluate-{}', $.last.experiment_id)",
                    "JobQueue": compute.job_queue.job_queue_arn,
                    "ContainerOverrides": {"Command.$": f"States.Array({command})"},
                },
                "ResultSelector": {"job_id.$": "$.JobId", "status.$": "$.Status"},
                "ResultPath": "$.batch",
            },
        )

    def _job_definition_arn(self, compute: ComputeStack, suffix: str) -> str:
        """The GPU job definition's ARN by name, with no revision (+ `suffix`, e.g. "*" for a grant)."""
        return self.format_arn(
            service="batch", resource="job-definition", resource_name=f"{compute.job_definition_name}{suffix}"
        )

    def _grant_jobs(self, machine: sfn.StateMachine, compute: ComputeStack) -> None:
        """What a Batch .sync task needs: submit this job definition (any revision) to this queue, the managed
        EventBridge rule Step Functions follows jobs with; DescribeJobs and TerminateJob (so that a stopped
        execution stops its GPU jobs)."""
        machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["batch:SubmitJob"],
                resources=[self._job_definition_arn(compute, "*"), compute.job_queue.job_queue_arn],
            )
        )
        machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[
                    self.format_arn(
                        service="events", resource="rule", resource_name="StepFunctionsGetEventsForBatchJobsRule"
                    )
                ],
            )
        )
        jobs = f"arn:{self.partition}:batch:{self.region}:{self.account}:job/*"
        machine.add_to_role_policy(iam.PolicyStatement(actions=["batch:TerminateJob"], resources=[jobs]))
        machine.add_to_role_policy(iam.PolicyStatement(actions=["batch:DescribeJobs"], resources=["*"]))

    def _record(self, state: str) -> tasks.LambdaInvoke:
        """The record step on the result the GPU job wrote for $.last.experiment_id."""
        return self._invoke(
            state,
            "record",
            {
                "experiment_id.$": "$.last.experiment_id",
                "attempt.$": "$.attempt",
                "result_key.$": f"States.Format('{RESULT_KEY_FORMAT}', $.last.experiment_id)",
            },
        )

    def _invoke(
        self, state: str, step: str, step_input: str | dict, result_path: str = "$.last", output_path: str | None = None
    ) -> tasks.LambdaInvoke:
        """A LambdaInvoke of `step` with the step payload; the output replaces `result_path`.

        Every step but mark_failed gets the item's corpus: recording a failure needs no clips, and still
        works when the corpus named is not in the bucket.
        """
        payload: dict[str, Any] = {
            "execution.$": "$$.Execution.Id",
            "step": state,
            "attempt.$": "$.attempt",
            "item.$": "$.item",
            **({} if step == "mark_failed" else {"corpus.$": "$.corpus"}),
        }
        payload.update({"input.$": step_input} if isinstance(step_input, str) else {"input": step_input})
        task = tasks.LambdaInvoke(
            self,
            state,
            lambda_function=self.functions[step].function,
            payload=sfn.TaskInput.from_object(payload),
            payload_response_only=True,
            result_path=result_path,
            output_path=output_path,
        )
        task.add_retry(errors=_TASK_RETRYABLE, interval=Duration.seconds(5), max_attempts=6, backoff_rate=2)
        return task

    def _acknowledge_role(self, machine: sfn.StateMachine, compute: ComputeStack) -> None:
        batch_arn = f"arn:{self.partition}:batch:{self.region}:{self.account}"
        jobs = f"AwsSolutions-IAM5[Resource::{_nag_text(self, batch_arn)}:job/*]"
        definitions = f"AwsSolutions-IAM5[Resource::{_nag_text(self, self._job_definition_arn(compute, '*'))}]"
        acknowledge(
            machine,
            {
                "AwsSolutions-IAM5[Resource::*]": "batch:DescribeJobs, X-Ray trace segments and CloudWatch Logs "
                "delivery (CreateLogDelivery and friends) have no resource-level permissions.",
                jobs: "Terminating the evaluation jobs this state machine started when its execution stops; job "
                "ARNs exist only at run time.",
                definitions: "Submitting the GPU job definition by its name: Batch runs its latest revision, whose "
                "number each deploy raises; the * covers the revisions of that one name.",
                **{
                    function_versions_finding(self, step.function): f"Invoking the {name} function's versions and "
                    "aliases (ARN:*), that function only."
                    for name, step in self.functions.items()
                },
            },
        )


def _nag_text(stack: Stack, text: str) -> str:
    """`text` as cdk-nag quotes it in a finding: pseudo parameters as <AWS::Partition>, <AWS::AccountId>, ...

    A stack with a concrete account or region has them as literals in its ARNs, and so do the findings.
    """
    for token, name in (
        (stack.partition, "AWS::Partition"),
        (stack.region, "AWS::Region"),
        (stack.account, "AWS::AccountId"),
    ):
        if Token.is_unresolved(token):
            text = text.replace(token, f"<{name}>")
    return text
