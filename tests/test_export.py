"""`aiv export` and `aiv show`: an id prefix is enough; the exported module imports with the plain importlib
recipe and result.json has the schema the README documents; show prints the events."""

from __future__ import annotations

import importlib.util
import json

import pytest

from aiv.cli import main
from aiv.codec.builtin import BUILTIN_CODECS
from aiv.codec.contract import builtin_source
from web_seed import seed_normal

DOCUMENTED_RESULT_KEYS = (
    "status",
    "failure",
    "codec",
    "codec_sha256",
    "lab_commit",
    "lab_dirty",
    "created_at",
    "versions",
    "settings",
    "isolation",
    "clips",
    "summary",
)  # README, "Output: result.json"


@pytest.mark.parametrize("name", BUILTIN_CODECS)
def test_builtin_codecs_import_with_the_plain_importlib_recipe(name, tmp_path):
    """spec_from_file_location + exec_module, without registering the module in sys.modules first:
    a dataclass with string annotations (`from __future__ import annotations`) fails that way."""
    path = tmp_path / f"exp-{name}.py"
    path.write_text(builtin_source(name).source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.encode) and callable(module.decode)


def test_export_by_id_prefix_writes_the_documented_files(tmp_path, capsys):
    store = seed_normal(tmp_path / "lab", previews=False)
    best = store.ids["best"]
    store.close()
    out = tmp_path / "exported"
    code = main(["export", best.rsplit("-", 1)[0], "--store", str(tmp_path / "lab"), "--out", str(out)])
    assert code == 0 and f"to {out}" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{best}.py", "experiment.json", "result.json", "validation.json"]
    )
    result = json.loads((out / "result.json").read_text())
    assert set(DOCUMENTED_RESULT_KEYS) <= set(result) and result["status"] == "ok"  # the schema of aiv evaluate
    assert json.loads((out / "validation.json").read_text())["clips"][0]["name"] == "noisy_static"
    assert json.loads((out / "experiment.json").read_text())["id"] == best
    spec = importlib.util.spec_from_file_location(best, out / f"{best}.py")  # the plain recipe, as documented
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.encode)
    code = main(["compare", str(out / "result.json"), str(out / "result.json"), "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["against_reference"][0]["mean"]["psnr_y"] == 0.0


def test_show_prints_the_events_and_takes_an_id_prefix(tmp_path, capsys):
    store = seed_normal(tmp_path / "lab", previews=False)
    failed = store.ids["failed"]
    events = store.experiments.events(failed)
    store.close()
    code = main(["show", failed.rsplit("-", 1)[0], "--store", str(tmp_path / "lab")])
    out = capsys.readouterr().out
    assert code == 0 and "== events ==" in out
    for event in events:
        assert f"{event['kind']:<9} {event['message']}" in out
    assert main(["show", "exp-", "--store", str(tmp_path / "lab")]) == 2
    assert "is the start of several experiment ids" in capsys.readouterr().err
