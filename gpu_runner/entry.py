"""The Batch job: evaluate one experiment.

    python -m gpu_runner.entry --experiment-id ID [--corpus SET] [--store PATH]

Builds the Lab (AWS: the table and bucket from the environment, training and validating on the clip
set SET uploaded with `aiv clips upload --corpus` when one is named; or the local store at PATH),
fetches the campaign's clips that are not built-in from the bucket's clips/ prefix into a
temporary folder, and runs aiv.cascade.evaluate, which writes results/<id>.json. Progress goes to
the experiment's events. The candidate runs in the sandbox: this process keeps the job role's
credentials, its children get none. When the sandbox reports weakened protections (no mount jail,
no network namespace: a container that is not privileged, see stacks/compute.py), the job says so
on stderr and among the experiment's events and still evaluates; every evaluation record in the
result carries the sandbox's `isolation` report, weaknesses included.

Cost: each attempt adds its own wall seconds, from the start of main() to its result written (or to
its infrastructure error), to the experiment's cost as `batch_s`, and sets `gpu_usd` = batch_s / 3600
x the hourly price the compute stack gave the job (AIV_GPU_PRICE_USD_PER_HOUR, an upper bound said in
AIV_GPU_PRICE_BASIS, recorded as `gpu_price_basis`; see aiv/aws/prices.py). Without those variables (a
local run) `gpu_usd` and `gpu_price_basis` are None. An attempt killed with its instance (a Spot
reclaim) records nothing; instance start-up and image pull are not the job's seconds either.

Exit status: 0 when the evaluation produced a result, whatever it says (ok, failed, rejected: a
codec that crashes is a result, not a job failure); 1 for an infrastructure error (the store, the
bucket, a missing clip, a crash of the lab itself, or a result failed at stage "harness": a metric or
an anchor failed after the codec ran), so Batch and the state machine treat only those as job failures;
2 for a bad command line or an experiment that is not ready to evaluate.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import socket
import sys
import tempfile
import time
import traceback
from pathlib import Path

from aiv.aws.prices import GpuPrice, price_from_env
from aiv.codec.device import DEVICE_CHOICES, resolve_device
from aiv.codec.sandbox import isolation_report
from aiv.commands.common import EXIT_ERROR, EXIT_OK, EXIT_USAGE, default_cache_dir
from aiv.cost_arithmetic import with_job_seconds
from aiv.errors import UsageError
from aiv.evaluate import HARNESS_STAGE
from aiv.names import result_key
from aiv.cascade import evaluate
from aiv.pipeline.lab import Lab, load_campaign_clip
from aiv.store.ports import ExperimentStore, require_experiment
from aiv.video.clip import Clip

IMDS_ADDRESS = ("169.254.169.254", 80)  # the instance metadata service: the instance role, not the job's
IMDS_PROBE_TIMEOUT_S = 2.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m gpu_runner.entry", description="Evaluate one experiment.")
    parser.add_argument("--experiment-id", required=True, help="the experiment to evaluate (status 'validating')")
    parser.add_argument(
        "--corpus",
        metavar="SET",
        default="",
        help="the clip set uploaded with `aiv clips upload --corpus` to evaluate on "
        "(default, or empty: the clips of AIV_SETTINGS); AWS only",
    )
    parser.add_argument(
        "--store",
        metavar="PATH",
        type=Path,
        help="a local store folder instead of the AWS table and bucket (tests, local runs)",
    )
    parser.add_argument(
        "--device",
        choices=DEVICE_CHOICES,
        default="auto",
        help="where candidates run (their DEVICE) and SSIM is computed; auto: cuda where torch finds a CUDA "
        "device, else cpu with a warning among the experiment's events (default)",
    )
    return parser.parse_args(argv)


def open_lab(store: Path | None, corpus: str = "") -> Lab:
    """The Lab to evaluate with: the local store at `store`, else the AWS table and bucket of the environment
    (on the uploaded clip set `corpus` when one is named)."""
    from aiv.aws.environment import lab_for_corpus, settings_from_env

    if store is None:
        return dataclasses.replace(lab_for_corpus(corpus), cache_dir=default_cache_dir(), benchmark_from_store=False)
    if corpus:
        raise UsageError(
            "--corpus names a clip set in the bucket; a local store (--store) takes its clips from AIV_SETTINGS"
        )
    from aiv.local import open_local_lab

    return open_local_lab(store, settings_from_env(), cache_dir=default_cache_dir())


def with_bucket_clips(lab: Lab, work: Path) -> Lab:
    """`lab` reading its campaign clips that are not built-in from the bucket, fetched into `work`; each such
    clip's source is its s3:// URI."""
    import boto3

    from aiv.aws.clips import fetch_clips
    from aiv.aws.environment import clips_prefix, require_env
    from aiv.names import BUCKET

    bucket, prefix = require_env(BUCKET), clips_prefix()
    local = fetch_clips(
        boto3.client("s3"), bucket, [*lab.settings.train_clips, *lab.settings.validation_clips], work, prefix
    )

    def load(spec: str, frames: int) -> Clip:
        if spec not in local:
            return load_campaign_clip(spec, frames, lab.corpus_secret)
        clip = load_campaign_clip(str(local[spec]), frames, lab.corpus_secret)
        return dataclasses.replace(clip, source=f"s3://{bucket}/{prefix}{spec}")

    return dataclasses.replace(lab, clip_loader=load)


def job_label() -> str:
    """Which Batch job and attempt this is, and where it runs."""
    job = os.environ.get("AWS_BATCH_JOB_ID", "local")
    attempt = os.environ.get("AWS_BATCH_JOB_ATTEMPT", "1")
    return f"job {job} attempt {attempt} on {socket.gethostname()}"


def earlier_result(lab: Lab, experiment_id: str) -> dict | None:
    """What an earlier attempt left: its output when it wrote the result, else None (an unfinished attempt is
    reset to be redone). UsageError when the experiment does not exist or is not ready to evaluate."""
    experiments = lab.experiments
    experiment = experiments.get_experiment(experiment_id)
    if experiment is None:
        raise UsageError(f"no experiment {experiment_id}")
    if experiment.status == "validating":
        return None
    if experiment.status != "evaluating":
        raise UsageError(
            f"experiment {experiment_id} is {experiment.status}; only a validated experiment "
            f"(status 'validating') can be evaluated"
        )
    key = result_key(experiment_id)
    if lab.artifacts.exists(key):
        experiments.add_event(experiment_id, "evaluate", f"{job_label()}: an earlier attempt already wrote {key}")
        return {
            "experiment_id": experiment_id,
            "status": json.loads(lab.artifacts.get(key))["status"],
            "result_key": key,
        }
    experiments.update_experiment(experiment_id, {"status": "validating"}, expect_status=("evaluating",))
    experiments.add_event(
        experiment_id, "evaluate", f"{job_label()}: redoing an evaluation an earlier attempt left unfinished"
    )
    return None


def note_isolation(lab: Lab, experiment_id: str) -> None:
    """Say loudly, on stderr and among the experiment's events, when the sandbox runs with weakened protections."""
    report = isolation_report()
    if report["weakened"]:
        message = f"{job_label()}: the codec sandbox is WEAKENED: {'; '.join(report['weakened'])}"
        print(f"gpu_runner: WARNING: {message}", file=sys.stderr)
        lab.experiments.add_event(experiment_id, "evaluate", message[:1000])


def instance_metadata_reachable(
    address: tuple[str, int] | None = None, timeout_s: float = IMDS_PROBE_TIMEOUT_S
) -> bool:
    """Whether a TCP connection to `address` (default IMDS_ADDRESS, the metadata service) opens from here.

    On Batch the launch template's firewall rule (stacks/imds_block.sh) drops it, so the connection times out.
    """
    try:
        with socket.create_connection(address or IMDS_ADDRESS, timeout=timeout_s):
            return True
    except OSError:
        return False


def note_instance_metadata(lab: Lab, experiment_id: str) -> None:
    """On Batch (AWS_BATCH_JOB_ID set), say loudly when this job can reach the instance metadata service,
    i.e. the instance's own role: the rule that should block it is missing."""
    if "AWS_BATCH_JOB_ID" not in os.environ or not instance_metadata_reachable():
        return
    message = (
        f"{job_label()}: the instance metadata service ({IMDS_ADDRESS[0]}) is REACHABLE from the job: "
        f"the launch template's firewall rule (stacks/imds_block.sh) is not in place"
    )
    print(f"gpu_runner: WARNING: {message}", file=sys.stderr)
    lab.experiments.add_event(experiment_id, "evaluate", message)


def note_device(lab: Lab, experiment_id: str) -> None:
    """Say loudly, on stderr and among the experiment's events, when a Batch job evaluates without a GPU."""
    if lab.device == "cuda" or "AWS_BATCH_JOB_ID" not in os.environ:
        return
    message = f"{job_label()}: no CUDA device: candidates run on the CPU"
    print(f"gpu_runner: WARNING: {message}", file=sys.stderr)
    lab.experiments.add_event(experiment_id, "evaluate", message)


def run(lab: Lab, experiment_id: str) -> dict:
    """Evaluate `experiment_id` (status 'validating'), with progress events around aiv.cascade.evaluate."""
    started = time.monotonic()
    note_isolation(lab, experiment_id)
    note_device(lab, experiment_id)
    note_instance_metadata(lab, experiment_id)
    lab.experiments.add_event(experiment_id, "evaluate", f"{job_label()}: evaluation started")
    output = evaluate({"experiment_id": experiment_id}, lab)
    lab.experiments.add_event(
        experiment_id,
        "evaluate",
        f"{job_label()}: evaluation finished: {output['status']} in {time.monotonic() - started:.0f} s",
    )
    return output


def main(argv: list[str] | None = None) -> int:
    """Run the job; the exit status tells Batch whether it was an infrastructure failure."""
    started = time.monotonic()
    args = parse_args(argv)
    lab, price = None, None
    try:
        lab = dataclasses.replace(open_lab(args.store, args.corpus), device=resolve_device(args.device))
        price = price_from_env()
        output = earlier_result(lab, args.experiment_id)
        if output is None:
            with tempfile.TemporaryDirectory(prefix="aiv-clips-") as work:
                clips_lab = lab if args.store is not None else with_bucket_clips(lab, Path(work))
                output = run(clips_lab, args.experiment_id)
        add_job_cost(lab.experiments, args.experiment_id, time.monotonic() - started, price)
        failure = json.loads(lab.artifacts.get(output["result_key"])).get("failure") or {}
        if failure.get("stage") == HARNESS_STAGE:  # the lab failed, not the codec: a job failure, retried by Batch
            print(f"gpu_runner: the harness failed after the codec ran: {failure['reason']}", file=sys.stderr)
            return EXIT_ERROR
    except UsageError as error:
        print(f"gpu_runner: {error}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as error:
        traceback.print_exc()
        _report_failure(lab, args.experiment_id, error, time.monotonic() - started, price)
        return EXIT_ERROR
    print(json.dumps(output))
    return EXIT_OK


def add_job_cost(experiments: ExperimentStore, experiment_id: str, seconds: float, price: GpuPrice | None) -> dict:
    """Add this attempt's `seconds` to the experiment's cost["batch_s"] and price the sum (with_job_seconds);
    the new cost."""
    cost = with_job_seconds(require_experiment(experiments, experiment_id).cost, seconds, price)
    experiments.update_experiment(experiment_id, {"cost": cost})
    experiments.add_event(
        experiment_id, "evaluate", f"{job_label()}: {seconds:.0f} s of GPU job recorded, {cost['batch_s']:.0f} s in all"
    )
    return cost


def _report_failure(
    lab: Lab | None, experiment_id: str, error: Exception, seconds: float, price: GpuPrice | None
) -> None:
    """Record the infrastructure error among the experiment's events, and the attempt's seconds in its cost,
    when the store can still be written."""
    if lab is None:
        return
    try:
        lab.experiments.add_event(
            experiment_id, "evaluate", f"{job_label()}: the job failed: {type(error).__name__}: {error}"[:1000]
        )
        add_job_cost(lab.experiments, experiment_id, seconds, price)
    except Exception:
        print("gpu_runner: the failure could not be recorded in the store either:", file=sys.stderr)
        traceback.print_exc()


if __name__ == "__main__":
    sys.exit(main())
