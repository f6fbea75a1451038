"""The store contract: what every ExperimentStore and ArtifactStore adapter must do, by behaviour.

Written once, run on every adapter: a test module subclasses `ExperimentStoreContract` and
`ArtifactStoreContract` and provides an `experiment_store` / `artifact_store` fixture giving a
fresh, empty store per test. Nothing here knows which adapter it is testing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest

from aiv.store.ports import ArtifactStore, ConflictError, ExperimentStore
from aiv.store.records import STATUSES, Experiment, ResultSummary, Summaries, new_experiment

_EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)
BM = "bm-contract-a"  # the benchmark of the contract's experiments unless a test says otherwise
# text fields that concurrent writers each own in the adapters' race tests: a lost update shows as an older value
WORKER_FIELDS = ("hypothesis", "model", "result_key", "code_key", "run_id", "code_sha256")


def make_experiment(n: int, **fields) -> Experiment:
    """Experiment number `n`: created n seconds after a fixed epoch (so n orders them), with `fields` set."""
    record = new_experiment(
        run_id="run-contract",
        proposer="offline",
        parents=[],
        hypothesis=f"hypothesis {n}",
        code_sha256=fields.pop("code_sha256", f"{n:064x}"),
        experiment_id=f"exp-contract-{n:06d}",
        benchmark=fields.pop("benchmark", BM),
    )
    stamp = (_EPOCH + timedelta(seconds=n)).isoformat(timespec="microseconds")
    return replace(record, **{"created_at": stamp, "updated_at": stamp, **fields})


def seed(store: ExperimentStore, numbers, **fields) -> list[Experiment]:
    """Create make_experiment(n, **fields) for each n; return the records."""
    records = [make_experiment(n, **fields) for n in numbers]
    for record in records:
        assert store.create_experiment(record) is True
    return records


def ids(records: list[Experiment]) -> list[str]:
    return [record.id for record in records]


def walk_pages(store: ExperimentStore, limit: int, status: str | None = None) -> list[list[Experiment]]:
    """Every page of list_experiments, following cursors to the end."""
    pages, cursor = [], None
    while True:
        page = store.list_experiments(status=status, limit=limit, cursor=cursor)
        pages.append(page.items)
        if page.cursor is None:
            return pages
        assert len(pages) < 1000, "cursor never reached the end"
        cursor = page.cursor


class ExperimentStoreContract:
    """Behaviour every ExperimentStore must show; subclasses provide the `experiment_store` fixture."""

    def test_schema_version_is_a_positive_int(self, experiment_store):
        version = experiment_store.schema_version()
        assert isinstance(version, int) and version >= 1

    def test_create_then_get_returns_the_same_record(self, experiment_store):
        record = make_experiment(1, parents=["exp-a", "exp-b"])
        assert experiment_store.create_experiment(record) is True
        assert experiment_store.get_experiment(record.id) == record

    def test_get_missing_is_none(self, experiment_store):
        assert experiment_store.get_experiment("exp-nope") is None

    def test_create_is_idempotent_on_id(self, experiment_store):
        record = make_experiment(1)
        assert experiment_store.create_experiment(record) is True
        assert experiment_store.create_experiment(replace(record, hypothesis="a retry with other text")) is False
        assert experiment_store.get_experiment(record.id) == record
        assert len(walk_pages(experiment_store, limit=10)[0]) == 1

    @pytest.mark.parametrize("missing", ["id", "created_at", "status"])
    def test_create_refuses_a_record_without_a_key_field(self, experiment_store, missing):
        with pytest.raises(ValueError, match=missing):
            experiment_store.create_experiment(make_experiment(1, **{missing: None}))

    def test_create_refuses_an_unknown_status(self, experiment_store):
        with pytest.raises(ValueError, match="sleeping"):
            experiment_store.create_experiment(make_experiment(1, status="sleeping"))

    @pytest.mark.parametrize(
        "field, value", [("score", "fast"), ("score_validation", True), ("parents", "exp-1"), ("code_sha256", 12)]
    )
    def test_create_and_update_refuse_a_badly_typed_indexed_field(self, experiment_store, field, value):
        with pytest.raises(ValueError, match=field):
            experiment_store.create_experiment(make_experiment(1, **{field: value}))
        record = seed(experiment_store, [2])[0]
        with pytest.raises(ValueError, match=field):
            experiment_store.update_experiment(record.id, {field: value})
        assert experiment_store.get_experiment(record.id) == record

    def test_json_round_trip_of_nested_values(self, experiment_store):
        summary = Summaries(
            train=ResultSummary(
                bd_rate_x264_psnr_y=-12.345678901234,
                bd_rate_x265_psnr_y=None,
                bd_rate_x264_vmaf=1e100,
                not_comparable={"bd_rate_x265_psnr_y": "foreman: ranges overlap by 0.2 dB"},
                caveats={"bd_rate_x264_vmaf": "foreman: 3 points"},
            ),
            validation=None,
        )
        hypothesis = "Bewegungsschätzung — ∆ 𝔘 ✓ <script>alert(\"x\")</script> & 'quotes' \\ \n\t"
        record = make_experiment(
            1,
            summary=summary,
            hypothesis=hypothesis,
            attempts=[{"attempt": 1, "stage": "validate", "reason": "import os </b>"}],
            model="",
            settings={
                "qualities": [0.2, 0.5, 0.8],
                "frames": None,
                "values": [0.1, -2.5e-7, 123456.789, 1e100, 0, 7],
                "empty": [],
                "nothing": {},
            },
        )
        experiment_store.create_experiment(record)
        assert experiment_store.get_experiment(record.id) == record
        updated = experiment_store.update_experiment(
            record.id, {"settings": {"deep": [[{"x": [None, 1.5]}]]}, "summary": Summaries(validation=ResultSummary())}
        )
        assert experiment_store.get_experiment(record.id) == updated
        assert updated.settings == {"deep": [[{"x": [None, 1.5]}]]}
        assert updated.summary == Summaries(train=None, validation=ResultSummary())

    def test_a_field_of_an_older_store_is_kept_as_it_was(self, experiment_store):
        stored = {**make_experiment(1).as_record(), "rd_signature": [[120.5, 33.25]]}
        del stored["benchmark"]  # stored before benchmarks were recorded
        record = Experiment.from_record(stored)
        assert record.extra == {"rd_signature": [[120.5, 33.25]]} and record.benchmark == "unknown"
        experiment_store.create_experiment(record)
        updated = experiment_store.update_experiment(record.id, {"hypothesis": "sharper"})
        assert updated.extra == {"rd_signature": [[120.5, 33.25]]}
        assert experiment_store.get_experiment(record.id).as_record()["rd_signature"] == [[120.5, 33.25]]

    def test_non_finite_numbers_are_refused(self, experiment_store):
        with pytest.raises(ValueError):
            experiment_store.create_experiment(make_experiment(1, score=float("nan")))
        assert experiment_store.get_experiment(make_experiment(1).id) is None
        experiment_store.create_experiment(make_experiment(2))
        with pytest.raises(ValueError):
            experiment_store.update_experiment(make_experiment(2).id, {"score": float("inf")})
        assert experiment_store.get_experiment(make_experiment(2).id).score is None

    def test_update_merges_fields_and_sets_updated_at(self, experiment_store):
        record = seed(experiment_store, [1])[0]
        updated = experiment_store.update_experiment(record.id, {"status": "validating", "stage": "validate"})
        assert updated.status == "validating" and updated.stage == "validate"
        assert replace(updated, status="proposed", stage="propose", updated_at="") == replace(record, updated_at="")
        assert updated.updated_at > record.updated_at
        assert experiment_store.get_experiment(record.id) == updated
        again = experiment_store.update_experiment(record.id, {"hypothesis": "sharper"})
        assert again.updated_at >= updated.updated_at and again.status == "validating"

    def test_update_replaces_a_top_level_value_whole(self, experiment_store):
        record = seed(experiment_store, [1], cost={"input_tokens": 10, "output_tokens": 5})[0]
        updated = experiment_store.update_experiment(record.id, {"cost": {"compute_s": 3.5}})
        assert updated.cost == {"compute_s": 3.5}

    def test_update_refuses_a_field_an_experiment_does_not_have(self, experiment_store):
        record = seed(experiment_store, [1])[0]
        for field in ("note", "extra"):
            with pytest.raises(ValueError, match=field):
                experiment_store.update_experiment(record.id, {field: "new"})
        assert experiment_store.get_experiment(record.id) == record

    def test_update_with_expected_status(self, experiment_store):
        record = seed(experiment_store, [1])[0]
        updated = experiment_store.update_experiment(record.id, {"status": "validating"}, expect_status=("proposed",))
        assert updated.status == "validating"

    def test_update_conflict_changes_nothing(self, experiment_store):
        record = seed(experiment_store, [1])[0]
        with pytest.raises(ConflictError, match="proposed"):
            experiment_store.update_experiment(
                record.id, {"status": "succeeded", "score": -3.0}, expect_status=("evaluating", "validating")
            )
        assert experiment_store.get_experiment(record.id) == record
        assert experiment_store.best_experiments(benchmark=BM) == []

    def test_update_missing_raises_key_error(self, experiment_store):
        with pytest.raises(KeyError):
            experiment_store.update_experiment("exp-nope", {"status": "failed"})
        with pytest.raises(KeyError):
            experiment_store.update_experiment("exp-nope", {"status": "failed"}, expect_status=("proposed",))

    def test_update_refuses_a_new_id_and_an_unknown_status(self, experiment_store):
        record = seed(experiment_store, [1])[0]
        with pytest.raises(ValueError):
            experiment_store.update_experiment(record.id, {"id": "exp-other"})
        with pytest.raises(ValueError, match="sleeping"):
            experiment_store.update_experiment(record.id, {"status": "sleeping"})
        assert experiment_store.get_experiment(record.id) == record

    def test_list_is_newest_first(self, experiment_store):
        records = seed(experiment_store, [3, 1, 4, 2])
        page = experiment_store.list_experiments()
        assert ids(page.items) == ids(sorted(records, key=lambda r: r.created_at, reverse=True))
        assert page.cursor is None

    def test_list_ties_on_created_at_are_ordered_by_id(self, experiment_store):
        same = make_experiment(5).created_at
        seed(experiment_store, [7, 9, 8], created_at=same)
        assert ids(experiment_store.list_experiments().items) == ids([make_experiment(n) for n in (9, 8, 7)])
        pages = walk_pages(experiment_store, limit=1)
        assert [ids(page) for page in pages] == [[make_experiment(n).id] for n in (9, 8, 7)]

    def test_list_of_an_empty_store(self, experiment_store):
        page = experiment_store.list_experiments()
        assert page.items == [] and page.cursor is None

    def test_list_filters_by_status(self, experiment_store):
        seed(experiment_store, range(0, 10, 2), status="failed")
        seed(experiment_store, range(1, 10, 2), status="succeeded")
        page = experiment_store.list_experiments(status="failed")
        assert ids(page.items) == ids([make_experiment(n) for n in (8, 6, 4, 2, 0)])
        assert experiment_store.list_experiments(status="evaluating").items == []

    def test_pagination_visits_every_experiment_once_in_order(self, experiment_store):
        records = seed(experiment_store, range(23))
        pages = walk_pages(experiment_store, limit=5)
        assert [len(page) for page in pages] == [5, 5, 5, 5, 3]
        assert [r.id for page in pages for r in page] == ids(records[::-1])

    def test_pagination_ends_with_a_full_page_when_the_count_divides(self, experiment_store):
        seed(experiment_store, range(10))
        assert [len(page) for page in walk_pages(experiment_store, limit=5)] == [5, 5]

    def test_pagination_with_a_status_filter(self, experiment_store):
        seed(experiment_store, range(0, 30, 3), status="succeeded", score=1.0)
        seed(experiment_store, [n for n in range(30) if n % 3], status="failed")
        pages = walk_pages(experiment_store, limit=4, status="succeeded")
        assert [r.id for page in pages for r in page] == ids([make_experiment(n) for n in range(27, -1, -3)])
        assert all(r.status == "succeeded" for page in pages for r in page)

    def test_pagination_is_stable_under_inserts(self, experiment_store):
        seed(experiment_store, range(100, 120))
        first = experiment_store.list_experiments(limit=7)
        seed(experiment_store, range(200, 205))  # newer than everything: they belong before page one
        seed(experiment_store, [0, 1])  # older than everything: they belong at the end
        seen = ids(first.items)
        cursor = first.cursor
        while cursor is not None:
            page = experiment_store.list_experiments(limit=7, cursor=cursor)
            seen += ids(page.items)
            cursor = page.cursor
        assert seen == ids([make_experiment(n) for n in [*range(119, 99, -1), 1, 0]])

    def test_list_refuses_a_bad_cursor_and_limit(self, experiment_store):
        seed(experiment_store, range(3))
        with pytest.raises(ValueError):
            experiment_store.list_experiments(cursor="not a cursor!")
        with pytest.raises(ValueError):
            experiment_store.list_experiments(limit=0)

    def test_best_is_succeeded_with_a_score_lowest_first(self, experiment_store):
        seed(experiment_store, [1], status="succeeded", score=-5.0, score_validation=2.0)
        seed(experiment_store, [2], status="succeeded", score=-20.0, score_validation=None)
        seed(experiment_store, [3], status="succeeded", score=7.5, score_validation=-1.0)
        seed(experiment_store, [4], status="succeeded", score=None)
        seed(experiment_store, [5], status="failed", score=-99.0, score_validation=-99.0)
        seed(experiment_store, [6], status="evaluating", score=-98.0)
        assert ids(experiment_store.best_experiments(benchmark=BM)) == ids([make_experiment(n) for n in (2, 1, 3)])
        assert ids(experiment_store.best_experiments(benchmark=BM, split="train")) == ids(
            [make_experiment(n) for n in (2, 1, 3)]
        )
        assert ids(experiment_store.best_experiments(benchmark=BM, split="validation")) == ids(
            [make_experiment(n) for n in (3, 1)]
        )
        assert ids(experiment_store.best_experiments(benchmark=BM, limit=2)) == ids(
            [make_experiment(n) for n in (2, 1)]
        )

    def test_best_follows_updates(self, experiment_store):
        record = seed(experiment_store, [1])[0]
        assert experiment_store.best_experiments(benchmark=BM) == []
        experiment_store.update_experiment(record.id, {"status": "succeeded", "score": -1.0})
        assert ids(experiment_store.best_experiments(benchmark=BM)) == [record.id]
        experiment_store.update_experiment(record.id, {"status": "failed"})
        assert experiment_store.best_experiments(benchmark=BM) == []

    def test_rankings_never_mix_benchmarks(self, experiment_store):
        seed(experiment_store, [1], status="succeeded", score=-5.0, score_validation=1.0)
        seed(experiment_store, [2], status="succeeded", score=-50.0, score_validation=-9.0, benchmark="bm-contract-b")
        old = make_experiment(3, status="succeeded", score=3.0, score_validation=2.0).as_record()
        del old["benchmark"]  # a record stored before benchmarks were recorded
        experiment_store.create_experiment(Experiment.from_record(old))
        for split in ("train", "validation"):
            assert ids(experiment_store.best_experiments(split=split, benchmark=BM)) == [make_experiment(1).id]
            assert ids(experiment_store.best_experiments(split=split, benchmark="bm-contract-b")) == [
                make_experiment(2).id
            ]
            assert ids(experiment_store.ranked_experiments(split=split, benchmark="unknown").items) == [
                make_experiment(3).id
            ]  # a record without a benchmark is of the unknown benchmark, alone
            assert experiment_store.best_experiments(split=split, benchmark="bm-none") == []

    def test_a_changed_benchmark_moves_the_experiment_between_rankings(self, experiment_store):
        record = seed(experiment_store, [1], status="succeeded", score=-5.0)[0]
        experiment_store.update_experiment(record.id, {"benchmark": "bm-contract-b"})
        assert experiment_store.best_experiments(benchmark=BM) == []
        assert ids(experiment_store.best_experiments(benchmark="bm-contract-b")) == [record.id]

    def test_a_benchmark_that_is_not_a_string_is_refused(self, experiment_store):
        with pytest.raises(ValueError, match="benchmark"):
            experiment_store.create_experiment(make_experiment(1, benchmark=7))

    def test_best_refuses_an_unknown_split(self, experiment_store):
        with pytest.raises(ValueError, match="test"):
            experiment_store.best_experiments(benchmark=BM, split="test")

    def test_ranked_is_best_order_a_page_at_a_time(self, experiment_store):
        scores = [4.5, -12.0, 30.0, -12.0, 0.0, -3.25, 7.0, -40.0, 2.0, -12.0, 11.0]
        for n, score in enumerate(scores):
            seed(experiment_store, [n], status="succeeded", score=score, score_validation=-score)
        seed(experiment_store, [20], status="succeeded", score=None, score_validation=1.0)
        seed(experiment_store, [21], status="failed", score=-99.0, score_validation=-99.0)
        seed(experiment_store, [22], status="evaluating", score=-98.0)
        for split in ("train", "validation"):
            best = ids(experiment_store.best_experiments(benchmark=BM, limit=100, split=split))
            seen, cursor, pages = [], None, 0
            while True:
                page = experiment_store.ranked_experiments(benchmark=BM, split=split, limit=3, cursor=cursor)
                assert len(page.items) <= 3
                seen += ids(page.items)
                pages += 1
                cursor = page.cursor
                if cursor is None:
                    break
                assert pages < 100, "cursor never reached the end"
            assert seen == best and len(seen) == (11 if split == "train" else 12)
        first = experiment_store.ranked_experiments(benchmark=BM, limit=4)
        assert ids(first.items) == ids([make_experiment(n) for n in (7, 1, 3, 9)])  # -40, then the -12 tie by id

    def test_ranked_of_an_empty_store_and_a_divisible_count(self, experiment_store):
        page = experiment_store.ranked_experiments(benchmark=BM)
        assert page.items == [] and page.cursor is None
        seed(experiment_store, range(4), status="succeeded", score=1.5)
        page = experiment_store.ranked_experiments(benchmark=BM, limit=2)
        assert len(page.items) == 2 and page.cursor is not None
        last = experiment_store.ranked_experiments(benchmark=BM, limit=2, cursor=page.cursor)
        assert len(last.items) == 2 and last.cursor is None

    def test_ranked_refuses_a_bad_split_cursor_and_limit(self, experiment_store):
        seed(experiment_store, range(3), status="succeeded", score=1.0)
        with pytest.raises(ValueError, match="test"):
            experiment_store.ranked_experiments(benchmark=BM, split="test")
        with pytest.raises(ValueError):
            experiment_store.ranked_experiments(benchmark=BM, cursor="not a cursor!")
        with pytest.raises(ValueError):
            experiment_store.ranked_experiments(benchmark=BM, limit=0)
        listing_cursor = experiment_store.list_experiments(limit=1).cursor
        with pytest.raises(ValueError):
            experiment_store.ranked_experiments(benchmark=BM, cursor=listing_cursor)

    def test_children_oldest_first_and_only_direct(self, experiment_store):
        root = seed(experiment_store, [1])[0]
        seed(experiment_store, [4], parents=[root.id])
        seed(experiment_store, [2], parents=["exp-other", root.id])
        seed(experiment_store, [3], parents=["exp-other"])
        seed(experiment_store, [5], parents=[make_experiment(4).id])
        assert ids(experiment_store.children(root.id)) == ids([make_experiment(n) for n in (2, 4)])
        assert ids(experiment_store.children("exp-other")) == ids([make_experiment(n) for n in (2, 3)])
        assert experiment_store.children(make_experiment(5).id) == []

    def test_children_follow_a_change_of_parents(self, experiment_store):
        seed(experiment_store, [1, 2])
        child = seed(experiment_store, [3], parents=[make_experiment(1).id])[0]
        experiment_store.update_experiment(child.id, {"parents": [make_experiment(2).id]})
        assert experiment_store.children(make_experiment(1).id) == []
        assert ids(experiment_store.children(make_experiment(2).id)) == [child.id]

    def test_find_by_code(self, experiment_store):
        seed(experiment_store, [1, 3], code_sha256="a" * 64)
        seed(experiment_store, [2], code_sha256="b" * 64)
        assert ids(experiment_store.find_by_code("a" * 64)) == ids([make_experiment(n) for n in (1, 3)])
        assert experiment_store.find_by_code("c" * 64) == []

    def test_count_by_status(self, experiment_store):
        assert experiment_store.count_by_status() == dict.fromkeys(STATUSES, 0)
        seed(experiment_store, range(3), status="failed")
        seed(experiment_store, range(3, 5), status="succeeded", score=1.0)
        experiment_store.update_experiment(make_experiment(0).id, {"status": "rejected"})
        assert experiment_store.count_by_status() == {
            **dict.fromkeys(STATUSES, 0),
            "failed": 2,
            "succeeded": 2,
            "rejected": 1,
        }

    def test_events_of_one_experiment_oldest_first(self, experiment_store):
        a, b = make_experiment(1).id, make_experiment(2).id
        added = [
            experiment_store.add_event(a, "stage", "validate started"),
            experiment_store.add_event(b, "stage", "other experiment"),
            experiment_store.add_event(
                a,
                "failure",
                "decode: shape (2, 8, 8) != (3, 8, 8)",
                {"stage": "decode", "clip": "foreman", "quality": 0.5},
            ),
        ]
        events = experiment_store.events(a)
        assert events == [added[0], added[2]]
        assert events[1]["data"] == {"stage": "decode", "clip": "foreman", "quality": 0.5}
        assert events[0]["data"] == {}
        assert events[0]["seq"] < events[1]["seq"] and events[0]["at"] <= events[1]["at"]
        assert {e["experiment_id"] for e in events} == {a}
        assert experiment_store.events("exp-none") == []

    def test_events_limit_keeps_the_newest(self, experiment_store):
        added = [experiment_store.add_event("exp-1", "tick", f"event {i}") for i in range(7)]
        assert experiment_store.events("exp-1", limit=3) == added[4:]

    def test_recent_events_across_experiments_newest_first(self, experiment_store):
        added = [
            experiment_store.add_event(experiment, "note", f"event {i}", {"i": i})
            for i, experiment in enumerate(["exp-1", None, "exp-2", "exp-1", None])
        ]
        assert experiment_store.recent_events() == added[::-1]
        assert experiment_store.recent_events(limit=2) == added[:2:-1]

    def test_state_swap_replaces_only_what_the_writer_read(self, experiment_store):
        assert experiment_store.swap_state("best_history", None, {"points": [1]}) is True
        assert experiment_store.swap_state("best_history", None, {"points": [2]}) is False  # it exists now
        read = experiment_store.get_state("best_history")
        assert experiment_store.swap_state("best_history", read, {"points": [1, 3]}) is True
        assert experiment_store.swap_state("best_history", read, {"points": [1, 4]}) is False  # a stale read
        assert experiment_store.get_state("best_history") == {"points": [1, 3]}
        experiment_store.put_state("costs", {"note": "<b>€</b>", "x": 1.5})
        assert experiment_store.swap_state("costs", experiment_store.get_state("costs"), {"x": 2}) is True
        assert experiment_store.get_state("costs") == {"x": 2}

    def test_state_put_get_replace(self, experiment_store):
        assert experiment_store.get_state("schedule") is None
        experiment_store.put_state("schedule", {"paused": False, "every": "1h", "runs": [1, 2]})
        assert experiment_store.get_state("schedule") == {"paused": False, "every": "1h", "runs": [1, 2]}
        experiment_store.put_state("schedule", {"paused": True})
        assert experiment_store.get_state("schedule") == {"paused": True}
        experiment_store.put_state("costs:2026-11", {"Inference": 1.25, "note": "<b>€</b>"})
        assert experiment_store.get_state("costs:2026-11") == {"Inference": 1.25, "note": "<b>€</b>"}
        assert experiment_store.get_state("schedule") == {"paused": True}


INVALID_KEYS = [
    "",
    "/etc/passwd",
    "../outside",
    "code/../../x",
    "code//x.py",
    "code/",
    "./code/x.py",
    "code\\x.py",
    "code/x\0.py",
]


class ArtifactStoreContract:
    """Behaviour every ArtifactStore must show; subclasses provide the `artifact_store` fixture."""

    def test_put_then_get(self, artifact_store: ArtifactStore):
        data = bytes(range(256)) * 3
        artifact_store.put("code/abc.py", data, content_type="text/x-python")
        assert artifact_store.get("code/abc.py") == data
        assert artifact_store.exists("code/abc.py")

    def test_empty_data_round_trips(self, artifact_store: ArtifactStore):
        artifact_store.put("results/empty.json", b"")
        assert artifact_store.exists("results/empty.json")
        assert artifact_store.get("results/empty.json") == b""

    def test_put_overwrites(self, artifact_store: ArtifactStore):
        artifact_store.put("results/exp-1.json", b'{"old": true}')
        artifact_store.put("results/exp-1.json", b'{"new": true}')
        assert artifact_store.get("results/exp-1.json") == b'{"new": true}'

    def test_missing_key(self, artifact_store: ArtifactStore):
        assert not artifact_store.exists("results/none.json")
        with pytest.raises(KeyError):
            artifact_store.get("results/none.json")

    def test_keys_are_independent(self, artifact_store: ArtifactStore):
        artifact_store.put("artifacts/exp-1/preview.mp4", b"one")
        artifact_store.put("artifacts/exp-1/decoder.py", b"two")
        artifact_store.put("artifacts/exp-2/preview.mp4", b"three")
        assert artifact_store.get("artifacts/exp-1/preview.mp4") == b"one"
        assert artifact_store.get("artifacts/exp-1/decoder.py") == b"two"
        assert not artifact_store.exists("artifacts/exp-3/preview.mp4")

    @pytest.mark.parametrize("key", INVALID_KEYS)
    def test_invalid_keys_are_refused(self, artifact_store: ArtifactStore, key):
        with pytest.raises(ValueError):
            artifact_store.put(key, b"x")
        with pytest.raises(ValueError):
            artifact_store.get(key)
        with pytest.raises(ValueError):
            artifact_store.exists(key)
        with pytest.raises(ValueError):
            artifact_store.url(key)

    def test_url_names_the_key(self, artifact_store: ArtifactStore):
        key = "artifacts/exp-1/preview clip é.mp4"
        artifact_store.put(key, b"x")
        url = artifact_store.url(key)
        assert isinstance(url, str) and quote(key) in url
