"""gpu_runner.entry, the Batch job: against moto S3/DynamoDB (clips fetched from the bucket) and a local store."""

from __future__ import annotations

import functools
import json

import pytest
from awslab import BUCKET, TINY_SETTINGS, add_candidate

from aiv.aws import environment
from aiv.codec import sandbox
from aiv.codec.isolation import Isolation, SandboxError, strongest
from aiv.local import open_local_lab
from gpu_runner.entry import main

CRASHING = ("import numpy as np\n\ndef encode(y, u, v, fps, quality):\n    raise RuntimeError('boom in encode')\n\n"
            "def decode(bitstream):\n    return None\n")


def events(experiments, experiment_id: str) -> list[str]:
    return [f"{e['kind']}: {e['message']}" for e in experiments.events(experiment_id)]


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
    assert lab.experiments.get_experiment(experiment_id)["status"] == "evaluating"  # record() closes it
    log = events(lab.experiments, experiment_id)
    assert any(line.startswith("evaluate: job local attempt 1 on ") and line.endswith("evaluation started")
               for line in log)
    assert any("evaluation finished: ok in" in line for line in log)
    report = sandbox.isolation_report()  # every evaluation record says how the candidate was isolated
    assert [result[name]["isolation"] for name in ("cascade", "train", "validation")] == [report] * 3
    assert any("sandbox is WEAKENED" in line for line in log) == bool(report["weakened"])


def test_a_weakened_sandbox_is_reported_loudly_and_the_evaluation_still_runs(clips_in_bucket, lab, tiny_codec_source,
                                                                             monkeypatch, capsys):
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


def test_a_codec_that_crashes_is_a_result_not_a_job_failure(clips_in_bucket, lab):
    experiment_id = add_candidate(lab.experiments, lab.artifacts, CRASHING, "validating")
    assert main(["--experiment-id", experiment_id]) == 0
    result = json.loads(lab.artifacts.get(f"results/{experiment_id}.json"))
    assert (result["status"], result["stage"]) == ("rejected", "smoke")
    assert "boom in encode" in result["reason"]


def test_a_missing_clip_is_an_infrastructure_failure_recorded_with_the_experiment(aws, lab, tiny_codec_source, capsys):
    experiment_id = add_candidate(lab.experiments, lab.artifacts, tiny_codec_source, "validating")
    assert main(["--experiment-id", experiment_id]) == 1
    assert f"s3://{BUCKET}/clips/tiny_pan.y4m" in capsys.readouterr().err
    assert any("the job failed: ClipError: clip 'tiny_pan.y4m' is neither a built-in clip nor in the bucket" in line
               for line in events(lab.experiments, experiment_id))
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


def test_the_same_entry_point_runs_on_a_local_store(aws_env, monkeypatch, tmp_path, tiny_clip_files, tiny_codec_source):
    settings = dict(TINY_SETTINGS, train_clips=[str(tiny_clip_files["tiny_pan.y4m"])],
                    validation_clips=[str(tiny_clip_files["tiny_noise.y4m"])])
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


@pytest.mark.parametrize("argv", [[], ["--store", "x"]])
def test_the_experiment_id_is_required(argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
