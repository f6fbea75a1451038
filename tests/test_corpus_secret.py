"""Where the built-in corpus's secret is kept: a store's state document, or a file in the cache."""

from __future__ import annotations

import stat

import pytest

from aiv.errors import AivError
from aiv.store.sqlite import SqliteExperimentStore
from aiv.video.corpus_secret import STATE_KEY, file_secret, store_secret


def test_a_store_creates_its_secret_once_and_keeps_it(tmp_path) -> None:
    store = SqliteExperimentStore(tmp_path / "lab.sqlite")
    first = store_secret(store)
    assert len(first) == 32 and store.get_state(STATE_KEY) == {"hex": first.hex()}
    assert store_secret(SqliteExperimentStore(tmp_path / "lab.sqlite")) == first  # reopened: the same secret
    assert store_secret(SqliteExperimentStore(tmp_path / "other.sqlite")) != first  # another store, another one


def test_a_cache_file_holds_a_private_secret(tmp_path) -> None:
    first = file_secret(tmp_path / "cache")
    path = tmp_path / "cache" / "corpus-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text().strip() == first.hex()
    assert file_secret(tmp_path / "cache") == first and file_secret(tmp_path / "other") != first
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["corpus-secret"]  # no temporary file left


@pytest.mark.parametrize(
    "content, message",
    [("not hex", "does not hold a corpus secret"), ("abcd", "holds a 2-byte corpus secret, expected 32")],
)
def test_a_damaged_secret_is_an_error_not_a_new_secret(tmp_path, content, message) -> None:
    (tmp_path / "corpus-secret").write_text(content)
    with pytest.raises(AivError, match=message):
        file_secret(tmp_path)
    store = SqliteExperimentStore(tmp_path / "lab.sqlite")
    store.put_state(STATE_KEY, {"hex": content})
    with pytest.raises(AivError, match=message):
        store_secret(store)


def test_a_lab_renders_its_built_in_clips_from_its_store_secret(tmp_path) -> None:
    from aiv.local import open_local_lab
    from aiv.settings import SMOKE_FRAMES, SMOKE_SIZE, CampaignSettings
    from aiv.video.corpus import builtin_clip

    settings = CampaignSettings(frames=2, train_clips=("pan_zoom",), validation_clips=("val_pan_zoom",))
    lab = open_local_lab(tmp_path / "one", settings)
    secret = store_secret(lab.experiments)
    assert lab.corpus_secret == secret
    assert lab.train_clips[0].sha256 == builtin_clip("pan_zoom", 2, secret=secret).sha256
    assert lab.smoke_clip.sha256 == builtin_clip("moving_object", SMOKE_FRAMES, secret=secret).crop(*SMOKE_SIZE).sha256
    again = open_local_lab(tmp_path / "one", settings)
    other = open_local_lab(tmp_path / "two", settings)
    assert again.validation_clips[0].sha256 == lab.validation_clips[0].sha256  # reruns on one store compare
    assert other.validation_clips[0].sha256 != lab.validation_clips[0].sha256
