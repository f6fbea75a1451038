"""gpu_runner.entry, the Batch job: against moto S3/DynamoDB (clips fetched from the bucket) and a local store."""

from __future__ import annotations

import functools
import json
import socket
import time

import pytest
from awslab import BUCKET, TINY_SETTINGS, add_candidate

from aiv.aws import environment
from aiv.aws.prices import GPU_PRICE, GPU_PRICE_BASIS
from aiv.codec import sandbox
from aiv.codec.isolation import Isolation, SandboxError, strongest
from aiv.local import open_local_lab
from gpu_runner import entry
from gpu_runner.entry import main

CRASHING = (
    "import numpy as np\n\ndef encode(y, u, v, fps, quality):\n    raise RuntimeError('boom in encode')\n\n"
    "def decode(bitstream):\n    return None\n"
)


BASIS = "upper bound: g4dn.2xlarge On-Demand list price in us-east-1, $0.752/h; Spot costs less"


def events(experiments, experiment_id: str) -> list[str]:
    return [f"{e['kind']}: {e['message']}" for e in experiments.events(experiment_id)]


@pytest.fixture
def priced(monkeypatch) -> float:
    """The price the compute stack gives the job, in the environment; the price in USD per hour."""
    monkeypatch.setenv(GPU_PRICE, "0.752")
    monkeypatch.setenv(GPU_PRICE_BASIS, BASIS)
    return 0.752


@pytest.fixture
def unpriced(monkeypatch) -> None:
    monkeypatch.delenv(GPU_PRICE, raising=False)
    monkeypatch.delenv(GPU_PRICE_BASIS, raising=False)


def timed_main(argv: list[str]) -> tuple[int, float]:
    """main's exit status and the wall seconds the call took (what the job may have recorded, at most)."""
    started = time.monotonic()
    status = main(argv)
    return status, time.monotonic() - started


def test_the_job_evaluates_an_experiment_from_the_bucket_and_table(clips_in_bucket, lab, tiny_codec_source, capsys):
    experiment_id = add_candidate(lab.experiments, lab.artifacts, tiny_codec_source, "validating")
    assert main(["--experiment-id", experiment_id]) == 0
    output = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert output == {"experiment_id": experiment_id, "status": "ok", "result_key": f"results/{experiment_id}.json"}
    result = json.loads(lab.artifacts.get(output["result_key"]))
    assert [c["name"] for c in result["train"]["clips"]] == ["tiny_pan"]
    assert [c["name"] for c in result["validation"]["clips"]] == ["tiny_noise"]
    assert result["train"]["clips"][0]["width"] == 64
    assert result["train"]["clips"][0]["source"] == f"s3://{BUCKET}/clips/tiny_pan.y4m"
    assert lab.experiments.get_experiment(experiment_id).status == "evaluating"  # record() closes it
    log = events(lab.experiments, experiment_id)
    assert any(
        line.startswith("evaluate: job local attempt 1 on ") and line.endswith("evaluation started") for line in log
    )
    assert any("evaluation finished: ok in" in line for line in log)
    report = sandbox.isolation_report()  # every evaluation record says how the candidate was isolated
    assert [result[name]["isolation"] for name in ("cascade", "train", "validation")] == [report] * 3
    assert any("sandbox is WEAKENED" in line for line in log) == bool(report["weakened"])


def test_a_weakened_sandbox_is_reported_loudly_and_the_evaluation_still_runs(
    clips_in_bucket, lab, tiny_codec_source, monkeypatch, capsys
):
    refused = "sandbox setup: OSError: [Errno 1] unshare: Operation not permitted"

    def unprivileged_container(candidate: Isolation) -> None:
        """Probe as in a container that is not privileged: unshare is refused, the rest is this machine's."""
        if candidate.jail or candidate.namespaces:
            raise SandboxError(refused)
        sandbox._probe(candidate)

    monkeypatch.setattr(sandbox, "_isolation", functools.cache(lambda: strongest(unprivileged_container)))
    experiment_id = add_candidate(lab.experiments, lab.artifacts, tiny_codec_source, "validating")
    assert main(["--experiment-id", experiment_id]) == 0
    assert "gpu_runner: WARNING: job local attempt 1 on " in capsys.readouterr().err
    result = json.loads(lab.artifacts.get(f"results/{experiment_id}.json"))
    assert result["status"] == "ok"  # the codecs ran under the weaker sandbox
    for name in ("cascade", "train", "validation"):
        isolation = result[name]["isolation"]
        assert (isolation["filesystem_jail"], isolation["network_namespace"]) == (False, False)
        assert any(refused in note for note in isolation["weakened"])
    [warning] = [line for line in events(lab.experiments, experiment_id) if "the codec sandbox is WEAKENED" in line]
    assert refused in warning


@pytest.fixture
def listening() -> tuple[str, int]:
    """A local TCP address that accepts connections, standing in for an instance metadata service that answers."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()


def closed_address() -> tuple[str, int]:
    """A local TCP address nothing listens on (as dropped or refused as IMDS behind the firewall rule)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        return server.getsockname()


def test_the_instance_metadata_probe_tells_an_open_service_from_a_blocked_one(listening):
    assert entry.instance_metadata_reachable(listening, timeout_s=1.0) is True
    assert entry.instance_metadata_reachable(closed_address(), timeout_s=1.0) is False


def test_a_batch_job_that_reaches_instance_metadata_says_so_loudly(
    aws, lab, tiny_codec_source, monkeypatch, listening, capsys
):
    experiment_id = add_candidate(lab.experiments, lab.artifacts, tiny_codec_source, "validating")
    monkeypatch.setenv("AWS_BATCH_JOB_ID", "job-1")
    monkeypatch.setattr(entry, "IMDS_ADDRESS", closed_address())
    entry.note_instance_metadata(lab, experiment_id)
    assert not any("metadata" in line for line in events(lab.experiments, experiment_id))
    monkeypatch.setattr(entry, "IMDS_ADDRESS", listening)
    entry.note_instance_metadata(lab, experiment_id)
    [warning] = [line for line in events(lab.experiments, experiment_id) if "metadata" in line]
    assert "REACHABLE from the job" in warning and "stacks/imds_block.sh" in warning
    assert "gpu_runner: WARNING: job job-1 attempt 1" in capsys.readouterr().err
    monkeypatch.delenv("AWS_BATCH_JOB_ID")  # not on Batch (a local run): nothing is probed
    entry.note_instance_metadata(lab, experiment_id)
    assert len([line for line in events(lab.experiments, experiment_id) if "metadata" in line]) == 1


def test_a_codec_that_crashes_is_a_result_not_a_job_failure(clips_in_bucket, lab):
    experiment_id = add_candidate(lab.experiments, lab.artifacts, CRASHING, "validating")
    assert main(["--experiment-id", experiment_id]) == 0
    result = json.loads(lab.artifacts.get(f"results/{experiment_id}.json"))
    assert (result["status"], result["stage"]) == ("rejected", "smoke")
    assert "boom in encode" in result["reason"]


def test_a_metric_failure_after_the_codec_ran_is_a_job_failure_at_stage_harness(
    clips_in_bucket, lab, tiny_codec_source, monkeypatch, capsys
):
    from aiv import evaluate as evaluator
    from aiv.errors import MetricError

    real = evaluator.measure_quality

    def fails_on_campaign_clips(clip, planes, *args):  # the smoke clip measures; the train clip's metric fails
        if clip.name != "smoke":
            raise MetricError("VMAF: ffmpeg crashed")
        return real(clip, planes, *args)

    monkeypatch.setattr(evaluator, "measure_quality", fails_on_campaign_clips)
    experiment_id = add_candidate(lab.experiments, lab.artifacts, tiny_codec_source, "validating")
    assert main(["--experiment-id", experiment_id]) == 1
    assert "the harness failed after the codec ran: VMAF: ffmpeg crashed" in capsys.readouterr().err
    result = json.loads(lab.artifacts.get(f"results/{experiment_id}.json"))
    assert result["failure"]["stage"] == "harness" and result["benchmark"]["id"].startswith("bm-")


def test_a_missing_clip_is_an_infrastructure_failure_recorded_with_the_experiment(aws, lab, tiny_codec_source, capsys):
    experiment_id = add_candidate(lab.experiments, lab.artifacts, tiny_codec_source, "validating")
    assert main(["--experiment-id", experiment_id]) == 1
    assert f"s3://{BUCKET}/clips/tiny_pan.y4m" in capsys.readouterr().err
    assert any(
        "the job failed: ClipError: clip 'tiny_pan.y4m' is neither a built-in clip nor in the bucket" in line
        for line in events(lab.experiments, experiment_id)
    )
    assert not lab.artifacts.exists(f"results/{experiment_id}.json")


def test_a_retried_job_keeps_a_result_already_written(clips_in_bucket, lab, tiny_codec_source, capsys):
    experiment_id = add_candidate(lab.experiments, lab.artifacts, tiny_codec_source, "evaluating")
    written = {"experiment_id": experiment_id, "status": "rejected", "stage": "smoke", "reason": "earlier attempt"}
    lab.artifacts.put(f"results/{experiment_id}.json", json.dumps(written).encode())
    assert main(["--experiment-id", experiment_id]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["status"] == "rejected"
    assert json.loads(lab.artifacts.get(f"results/{experiment_id}.json")) == written
    assert any("an earlier attempt already wrote" in line for line in events(lab.experiments, experiment_id))


def test_a_retried_job_redoes_an_unfinished_evaluation(clips_in_bucket, lab):
    experiment_id = add_candidate(lab.experiments, lab.artifacts, CRASHING, "evaluating")  # the attempt died
    assert main(["--experiment-id", experiment_id]) == 0
    assert json.loads(lab.artifacts.get(f"results/{experiment_id}.json"))["status"] == "rejected"
    assert any("redoing an evaluation" in line for line in events(lab.experiments, experiment_id))


def test_an_experiment_not_ready_is_a_usage_error(aws, lab, tiny_codec_source, capsys):
    experiment_id = add_candidate(lab.experiments, lab.artifacts, tiny_codec_source, "proposed")
    assert main(["--experiment-id", experiment_id]) == 2
    assert "is proposed; only a validated experiment" in capsys.readouterr().err
    assert main(["--experiment-id", "exp-none"]) == 2


def test_the_same_entry_point_runs_on_a_local_store(
    aws_env, monkeypatch, tmp_path, tiny_clip_files, tiny_codec_source, unpriced
):
    settings = dict(
        TINY_SETTINGS,
        train_clips=[str(tiny_clip_files["tiny_pan.y4m"])],
        validation_clips=[str(tiny_clip_files["tiny_noise.y4m"])],
    )
    monkeypatch.setenv(environment.SETTINGS, json.dumps(settings))
    for name in (environment.TABLE, environment.BUCKET):
        monkeypatch.delenv(name)  # nothing of AWS is needed or touched
    lab = open_local_lab(tmp_path / "store")
    experiment_id = add_candidate(lab.experiments, lab.artifacts, tiny_codec_source, "validating")
    assert main(["--experiment-id", experiment_id, "--store", str(tmp_path / "store")]) == 0
    lab = open_local_lab(tmp_path / "store")
    result = json.loads(lab.artifacts.get(f"results/{experiment_id}.json"))
    assert result["status"] == "ok" and result["train"]["clips"][0]["name"] == "tiny_pan"
    assert any("evaluation finished: ok" in line for line in events(lab.experiments, experiment_id))
    cost = lab.experiments.get_experiment(experiment_id).cost
    assert cost["batch_s"] > 0 and cost["gpu_usd"] is None  # no stack, no price


@pytest.mark.parametrize("argv", [[], ["--store", "x"]])
def test_the_experiment_id_is_required(argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2


# --- what the job costs --------------------------------------------------------------------------


def test_the_job_records_its_seconds_and_their_price(clips_in_bucket, lab, tiny_codec_source, priced):
    experiment_id = add_candidate(lab.experiments, lab.artifacts, tiny_codec_source, "validating")
    status, elapsed = timed_main(["--experiment-id", experiment_id])
    assert status == 0
    cost = lab.experiments.get_experiment(experiment_id).cost
    assert 0 < cost["batch_s"] <= round(elapsed, 3) + 0.001
    assert cost["compute_s"] < cost["batch_s"]  # the codec's own seconds are part of the job's
    assert cost["gpu_usd"] == pytest.approx(cost["batch_s"] * priced / 3600, abs=1e-6)
    assert cost["gpu_price_basis"] == BASIS
    assert any(
        f"s of GPU job recorded, {cost['batch_s']:.0f} s in all" in line
        for line in events(lab.experiments, experiment_id)
    )


def test_a_retried_job_adds_its_seconds_to_the_earlier_attempts(clips_in_bucket, lab, tiny_codec_source, priced):
    experiment_id = add_candidate(lab.experiments, lab.artifacts, CRASHING, "evaluating")  # attempt 1 died ...
    earlier = dict(
        lab.experiments.get_experiment(experiment_id).cost, batch_s=1000.0, gpu_usd=0.208889, gpu_price_basis=BASIS
    )  # ... after recording its seconds
    lab.experiments.update_experiment(experiment_id, {"cost": earlier})
    status, elapsed = timed_main(["--experiment-id", experiment_id])
    assert status == 0
    cost = lab.experiments.get_experiment(experiment_id).cost
    assert 1000.0 < cost["batch_s"] <= 1000.0 + round(elapsed, 3) + 0.001
    assert cost["gpu_usd"] == pytest.approx(cost["batch_s"] * priced / 3600, abs=1e-6)
    # a retry that finds the result already written still adds its own seconds
    status, elapsed = timed_main(["--experiment-id", experiment_id])
    assert status == 0
    again = lab.experiments.get_experiment(experiment_id).cost
    assert cost["batch_s"] < again["batch_s"] <= cost["batch_s"] + round(elapsed, 3) + 0.001
    assert again["gpu_usd"] == pytest.approx(again["batch_s"] * priced / 3600, abs=1e-6)


def test_without_a_price_the_job_records_seconds_and_no_dollars(clips_in_bucket, lab, tiny_codec_source, unpriced):
    experiment_id = add_candidate(lab.experiments, lab.artifacts, tiny_codec_source, "validating")
    assert main(["--experiment-id", experiment_id]) == 0
    cost = lab.experiments.get_experiment(experiment_id).cost
    assert cost["batch_s"] > 0
    assert cost["gpu_usd"] is None and cost["gpu_price_basis"] is None


def test_a_failed_job_still_records_its_seconds(aws, lab, tiny_codec_source, priced):
    experiment_id = add_candidate(lab.experiments, lab.artifacts, tiny_codec_source, "validating")
    assert main(["--experiment-id", experiment_id]) == 1  # the clips are not in the bucket
    cost = lab.experiments.get_experiment(experiment_id).cost
    assert cost["batch_s"] > 0 and cost["gpu_usd"] == pytest.approx(cost["batch_s"] * priced / 3600, abs=1e-6)


def test_a_malformed_price_is_an_infrastructure_failure_naming_it(clips_in_bucket, lab, tiny_codec_source, monkeypatch):
    monkeypatch.setenv(GPU_PRICE, "cheap")
    monkeypatch.setenv(GPU_PRICE_BASIS, BASIS)
    experiment_id = add_candidate(lab.experiments, lab.artifacts, tiny_codec_source, "validating")
    assert main(["--experiment-id", experiment_id]) == 1
    assert any(
        f"the job failed: ConfigError: {GPU_PRICE} must be a positive number" in line
        for line in events(lab.experiments, experiment_id)
    )
    assert not lab.artifacts.exists(f"results/{experiment_id}.json")  # it failed before evaluating
    cost = lab.experiments.get_experiment(experiment_id).cost
    assert cost["batch_s"] > 0 and cost["gpu_usd"] is None  # no price stands in for the one it could not read


NO_CUDA = pytest.mark.skipif(
    __import__("torch").cuda.is_available(), reason="this machine has a CUDA device: the no-GPU answers do not apply"
)


@NO_CUDA
def test_a_batch_job_without_a_gpu_says_so_loudly(aws, lab, tiny_codec_source, monkeypatch, capsys):
    experiment_id = add_candidate(lab.experiments, lab.artifacts, tiny_codec_source, "validating")
    entry.note_device(lab, experiment_id)  # not on Batch: a CPU run is what was asked for
    assert not any("CUDA" in line for line in events(lab.experiments, experiment_id))
    monkeypatch.setenv("AWS_BATCH_JOB_ID", "job-1")
    entry.note_device(lab, experiment_id)
    [warning] = [line for line in events(lab.experiments, experiment_id) if "CUDA" in line]
    assert "no CUDA device: candidates run on the CPU" in warning
    assert "gpu_runner: WARNING: job job-1" in capsys.readouterr().err
