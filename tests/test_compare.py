"""`aiv compare`: BD-rate against the first result per clip and on average, as a table, JSON, CSV and a PNG."""

from __future__ import annotations

import copy
import csv
import io
import json
import random

import cv2
import numpy as np
import pytest

from aiv.cli import main
from aiv.comparison import Entry, compare
from aiv.metrics.bdrate import bd_rate
from web_seed import clip_record, seed_normal, synthetic_clip

CLIPS = ("pan_zoom", "light_cut")


def result(rate_factor: float, vmaf: bool = False, seed: int = 1, qualities_kept: int = 4) -> dict:
    """An evaluation record (result.json) of a modelled codec needing `rate_factor` times x264's bits."""
    rng = random.Random(seed)
    clips = [clip_record(synthetic_clip(name), rate_factor, rng, vmaf, 1.0) for name in CLIPS]
    for clip in clips:
        clip["points"] = clip["points"][:qualities_kept]
    return {
        "status": "ok",
        "failure": None,
        "codec": {"name": f"codec{rate_factor}", "origin": "test"},
        "codec_sha256": "0" * 64,
        "settings": {},
        "clips": clips,
        "summary": {"bd_rate_x264_psnr_y": 100 * (rate_factor - 1), "bd_rate_x265_psnr_y": None},
    }


def write(tmp_path, name: str, record: dict):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "result.json").write_text(json.dumps(record))
    return folder / "result.json"


def run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_bd_rate_of_each_against_the_first_per_clip_and_mean():
    reference, better = result(1.2), result(0.9, seed=2)
    comparison = compare([Entry("ref", "a", reference), Entry("better", "b", better), Entry("same", "c", reference)])
    against = comparison["against_reference"][0]
    for clip, name in zip(reference["clips"], CLIPS):
        other = better["clips"][CLIPS.index(name)]
        expected = bd_rate(
            [(p["kbps"], p["psnr_y"]) for p in clip["points"]], [(p["kbps"], p["psnr_y"]) for p in other["points"]]
        ).value
        assert against["clips"][name]["psnr_y"]["value"] == pytest.approx(expected)
        assert against["clips"][name]["vmaf"] == {
            "value": None,
            "caveat": None,
            "reason": "VMAF was not measured in both results",
        }
    assert -30 < against["mean"]["psnr_y"] < -20  # 0.9 / 1.2 of the bits: -25 %, give or take the noise
    assert against["mean"]["psnr_y"] == pytest.approx(np.mean([against["clips"][n]["psnr_y"]["value"] for n in CLIPS]))
    assert "VMAF was not measured" in against["not_comparable"]["vmaf"]
    assert comparison["against_reference"][1]["mean"]["psnr_y"] == pytest.approx(0.0, abs=1e-9)
    assert [e["label"] for e in comparison["entries"]] == ["ref", "better", "same"]


def test_vmaf_is_compared_when_both_measured_it():
    comparison = compare([Entry("a", "a", result(1.0, vmaf=True)), Entry("b", "b", result(0.8, vmaf=True, seed=3))])
    assert comparison["against_reference"][0]["mean"]["vmaf"] < -10


def test_clips_are_matched_by_the_frames_measured_and_missing_ones_are_named():
    reference, other = result(1.0), result(0.9)
    other["clips"][0]["sha256"] = "f" * 64  # same name, other frames
    del other["clips"][1]
    against = compare([Entry("a", "a", reference), Entry("b", "b", other)])["against_reference"][0]
    assert against["clips"]["pan_zoom"]["psnr_y"]["reason"] == "measured on other frames (clip hashes differ)"
    assert against["clips"]["light_cut"]["psnr_y"]["reason"] == "not in this result"
    assert against["mean"]["psnr_y"] is None and "light_cut: not in this result" in against["not_comparable"]["psnr_y"]


def test_fewer_than_four_points_are_flagged():
    against = compare([Entry("a", "a", result(1.0)), Entry("b", "b", result(0.9, qualities_kept=2))])[
        "against_reference"
    ][0]
    assert against["clips"]["pan_zoom"]["psnr_y"]["caveat"].startswith("from 2 test and 4 anchor points")
    assert against["mean"]["psnr_y"] is not None and "pan_zoom: from 2 test" in against["caveats"]["psnr_y"]


def test_table_json_and_csv_agree(tmp_path, capsys):
    a, b = write(tmp_path, "intra", result(1.3)), write(tmp_path, "hybrid", result(1.0, seed=4))
    code, table, _ = run(["compare", a, b], capsys)
    assert code == 0
    assert "reference: intra" in table and "hybrid vs intra" in table
    code, out, _ = run(["compare", a, b.parent, "--json"], capsys)  # a result's folder works as well
    assert code == 0
    comparison = json.loads(out)
    mean = comparison["against_reference"][0]["mean"]["psnr_y"]
    assert f"{mean:+.2f}%" in table.split("mean")[1].splitlines()[0]
    code, out, _ = run(["compare", a, b, "--csv"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 2 * (len(CLIPS) + 1)  # PSNR-Y and VMAF per clip, and the means
    by_key = {(r["clip"], r["metric"]): r for r in rows}
    assert float(by_key[("mean", "psnr_y")]["bd_rate"]) == pytest.approx(mean, abs=1e-4)
    assert by_key[("pan_zoom", "vmaf")]["bd_rate"] == "" and "not measured" in by_key[("pan_zoom", "vmaf")]["reason"]
    assert {r["codec"] for r in rows} == {"hybrid"} and {r["reference"] for r in rows} == {"intra"}


def test_plot_draws_each_codec_and_the_anchors_per_clip(tmp_path, capsys):
    a, b = write(tmp_path, "intra", result(1.3)), write(tmp_path, "hybrid", result(1.0, seed=4))
    code, out, _ = run(["compare", a, b, "--plot", tmp_path / "plots" / "rd.png"], capsys)
    assert code == 0 and "plot:" in out
    image = cv2.imread(str(tmp_path / "plots" / "rd.png"))
    assert image.shape == (420, 1280, 3)  # two clips side by side
    for colour in ((180, 119, 31), (14, 127, 255)):  # the two codecs' curves, in both panels
        for panel in (image[:, :640], image[:, 640:]):
            assert np.all(panel == colour, axis=2).sum() > 50
    assert np.all(image == (90, 90, 90), axis=2).sum() > 50  # x264, dashed


def test_experiments_by_id_prefix(tmp_path, capsys):
    store = seed_normal(tmp_path / "lab", previews=False)
    intra, best = store.ids["intra"], store.ids["best"]
    code, out, err = run(["compare", intra.rsplit("-", 1)[0], best, "--store", tmp_path / "lab", "--json"], capsys)
    assert code == 0, err
    comparison = json.loads(out)
    assert comparison["reference"]["label"] == intra
    assert comparison["against_reference"][0]["mean"]["psnr_y"] < 0  # the best beats the intra seed
    code, out, err = run(
        ["compare", intra, best, "--split", "validation", "--store", tmp_path / "lab", "--json"], capsys
    )
    assert code == 0 and [c["name"] for c in json.loads(out)["clips"]] == ["noisy_static"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["only-one"], "at least two results"),
        (["missing/result.json", "x"], "missing/result.json: no such result file"),
        (["exp-", "exp-"], "is the start of several experiment ids"),
        (["exp-nothing-like-it", "exp-"], "no experiment exp-nothing-like-it"),
    ],
)
def test_bad_inputs_exit_2_with_the_reason(argv, message, tmp_path, capsys):
    seed_normal(tmp_path / "lab", previews=False)
    code, out, err = run(["compare", *argv, "--store", tmp_path / "lab"], capsys)
    assert code == 2 and message in err and out == ""


def test_a_failed_or_foreign_record_is_refused(tmp_path, capsys):
    failed = copy.deepcopy(result(1.0))
    failed.update(status="failed", failure={"stage": "decode", "reason": "boom", "clip": "pan_zoom", "quality": 0.2})
    ok = write(tmp_path, "ok", result(1.0))
    code, _, err = run(["compare", ok, write(tmp_path, "failed", failed)], capsys)
    assert code == 2 and "did not finish" in err and "boom" in err
    (tmp_path / "x.json").write_text('{"hello": 1}')
    code, _, err = run(["compare", ok, tmp_path / "x.json"], capsys)
    assert code == 2 and "not an evaluation record" in err
    (tmp_path / "broken.json").write_text("{")
    code, _, err = run(["compare", ok, tmp_path / "broken.json"], capsys)
    assert code == 2 and "not JSON" in err
    code, _, err = run(["compare", ok, ok, "--plot", tmp_path / "rd.jpg"], capsys)
    assert code == 2 and "--plot writes a PNG" in err


def test_against_parent_covers_the_splits_both_finished():
    from aiv.comparison import against_parent

    parent = {"train": result(1.2), "validation": result(1.2, seed=5)}
    child = {"train": result(0.9, seed=2), "validation": None}
    vs = against_parent("exp-parent", parent, child)
    assert vs["parent"] == "exp-parent" and set(vs) == {"parent", "train"}
    assert vs["train"]["mean"]["psnr_y"] == pytest.approx(
        compare([Entry("p", "p", parent["train"]), Entry("c", "c", child["train"])])["against_reference"][0]["mean"][
            "psnr_y"
        ]
    )
    failed = dict(result(0.9), status="failed")
    assert against_parent("exp-parent", parent, {"train": failed}) is None
