"""The embedded stores (SQLite + a local folder): the contract suite, plus what only SQLite has:
schema versions, index use, concurrent processes and threads, and surviving a killed writer."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from aiv.errors import UsageError
from aiv.store import open_local_store
from aiv.store.local_artifacts import LocalArtifactStore
from aiv.store.ports import ConflictError
from aiv.store.records import Experiment
from aiv.store.sqlite import MIGRATIONS, SCHEMA_VERSION, SqliteExperimentStore, migrate
from store_contract import (
    BM,
    WORKER_FIELDS,
    ArtifactStoreContract,
    ExperimentStoreContract,
    make_experiment,
    seed,
    walk_pages,
)

SPAWN = multiprocessing.get_context("spawn")
WAIT_S = 120  # a guard against a hung child, not a speed requirement


@pytest.fixture
def store(tmp_path):
    opened = SqliteExperimentStore(tmp_path / "lab.sqlite")
    yield opened
    opened.close()


class TestSqliteExperimentStore(ExperimentStoreContract):
    @pytest.fixture
    def experiment_store(self, store):
        return store


class TestLocalArtifactStore(ArtifactStoreContract):
    @pytest.fixture
    def artifact_store(self, tmp_path):
        return LocalArtifactStore(tmp_path / "artifacts")


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


# --- the local folder ---------------------------------------------------------------------------


def test_local_url_is_the_dashboard_route(tmp_path):
    artifacts = LocalArtifactStore(tmp_path)
    assert artifacts.url("artifacts/exp-1/a b#c?.mp4") == "/artifacts/artifacts/exp-1/a%20b%23c%3F.mp4"
    assert artifacts.url("code/abc.py") == "/artifacts/code/abc.py"


def test_local_put_writes_the_file_and_leaves_no_temporary(tmp_path):
    artifacts = LocalArtifactStore(tmp_path)
    artifacts.put("results/exp-1.json", b"one")
    artifacts.put("results/exp-1.json", b"two")
    assert artifacts.path("results/exp-1.json") == tmp_path / "results" / "exp-1.json"
    assert (tmp_path / "results" / "exp-1.json").read_bytes() == b"two"
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["exp-1.json"]


def test_local_folder_is_not_an_artifact(tmp_path):
    artifacts = LocalArtifactStore(tmp_path)
    artifacts.put("code/abc.py", b"x")
    assert not artifacts.exists("code")
    with pytest.raises(KeyError):
        artifacts.get("code")


def test_open_local_store_layout(tmp_path):
    experiments, artifacts = open_local_store(tmp_path / "lab")
    experiments.create_experiment(make_experiment(1))
    artifacts.put("code/abc.py", b"x")
    assert (tmp_path / "lab" / "lab.sqlite").is_file()
    assert (tmp_path / "lab" / "artifacts" / "code" / "abc.py").read_bytes() == b"x"


# --- schema versions ----------------------------------------------------------------------------


def test_a_new_file_gets_the_current_schema_in_wal_mode(store):
    assert store.schema_version() == SCHEMA_VERSION == len(MIGRATIONS)
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reopening_keeps_the_data(tmp_path):
    first = SqliteExperimentStore(tmp_path / "lab.sqlite")
    record = seed(first, [1])[0]
    first.close()
    again = SqliteExperimentStore(tmp_path / "lab.sqlite")
    assert again.get_experiment(record.id) == record
    assert again.schema_version() == SCHEMA_VERSION


def test_a_schema_1_file_is_migrated_and_its_records_rank_as_the_unknown_benchmark(tmp_path):
    path = tmp_path / "lab.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, MIGRATIONS[:1])
    old = make_experiment(1, status="succeeded", score=-3.0).as_record()
    del old["benchmark"]
    conn.execute(
        "INSERT INTO experiments (id, created_at, status, score, score_validation, code_sha256, run_id, record)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (old["id"], old["created_at"], "succeeded", -3.0, None, old["code_sha256"], old["run_id"], json.dumps(old)),
    )
    conn.close()
    store = SqliteExperimentStore(path)
    assert store.schema_version() == SCHEMA_VERSION == 2
    assert store.get_experiment(old["id"]) == Experiment.from_record(old)
    assert store.get_experiment(old["id"]).benchmark == "unknown"
    assert [e.id for e in store.best_experiments(benchmark="unknown")] == [old["id"]]
    seed(store, [2], status="succeeded", score=-30.0)
    assert [e.id for e in store.best_experiments(benchmark="unknown")] == [old["id"]]
    assert [e.id for e in store.best_experiments(benchmark=BM)] == [make_experiment(2).id]


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "lab.sqlite"
    SqliteExperimentStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(UsageError, match=f"version {SCHEMA_VERSION + 1} is newer .*version {SCHEMA_VERSION}"):
        SqliteExperimentStore(path)


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    path = tmp_path / "lab.sqlite"
    path.write_bytes(b"this is a results table, not SQLite" * 100)
    with pytest.raises(UsageError, match="cannot open the experiment store .*lab.sqlite"):
        SqliteExperimentStore(path)


def test_migrations_apply_in_order_and_only_once(tmp_path):
    conn = sqlite3.connect(tmp_path / "m.sqlite", isolation_level=None)
    steps = [("CREATE TABLE a (x)", "INSERT INTO a VALUES (1)"), ("INSERT INTO a VALUES (2)",)]
    assert migrate(conn, steps[:1]) == 1
    assert migrate(conn, steps) == 2
    assert migrate(conn, steps) == 2
    assert conn.execute("SELECT x FROM a ORDER BY rowid").fetchall() == [(1,), (2,)]


def test_a_failing_migration_changes_nothing(tmp_path):
    conn = sqlite3.connect(tmp_path / "m.sqlite", isolation_level=None)
    migrate(conn, [("CREATE TABLE a (x)",)])
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, [("CREATE TABLE a (x)",), ("CREATE TABLE b (y)", "INSERT INTO missing VALUES (1)")])
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'b'").fetchall() == []


# --- index use ----------------------------------------------------------------------------------

QUERIES = {
    "get_experiment": lambda s, c: s.get_experiment(make_experiment(5).id),
    "list_experiments": lambda s, c: s.list_experiments(limit=10),
    "list_experiments_deep": lambda s, c: s.list_experiments(limit=10, cursor=c),
    "list_by_status": lambda s, c: s.list_experiments(status="succeeded", limit=10),
    "list_by_status_deep": lambda s, c: s.list_experiments(status="succeeded", limit=10, cursor=c),
    "best_train": lambda s, c: s.best_experiments(10, benchmark=BM),
    "best_validation": lambda s, c: s.best_experiments(10, split="validation", benchmark=BM),
    "children": lambda s, c: s.children(make_experiment(1).id),
    "find_by_code": lambda s, c: s.find_by_code("a" * 64),
    "count_by_status": lambda s, c: s.count_by_status(),
    "events": lambda s, c: s.events(make_experiment(1).id),
    "recent_events": lambda s, c: s.recent_events(20),
    "get_state": lambda s, c: s.get_state("schedule"),
    "update_experiment": lambda s, c: s.update_experiment(make_experiment(7).id, {"stage": "x"}),
}
ORDERED_BY_INDEX = {
    "list_experiments",
    "list_experiments_deep",
    "list_by_status",
    "list_by_status_deep",
    "best_train",
    "best_validation",
    "find_by_code",
    "events",
    "recent_events",
}


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_every_query_uses_an_index(store, name):
    seed(store, range(40), status="succeeded", score=1.5, score_validation=2.5, parents=[make_experiment(1).id])
    seed(store, range(40, 60), status="failed", code_sha256="a" * 64)
    for n in range(30):
        store.add_event(make_experiment(n % 3).id, "note", f"event {n}")
    cursor = store.list_experiments(limit=25).cursor
    statements: list[str] = []
    conn = store._connection()
    conn.set_trace_callback(statements.append)
    try:
        QUERIES[name](store, cursor)
    finally:
        conn.set_trace_callback(None)
    queries = [sql for sql in statements if sql.split()[0].upper() in ("SELECT", "UPDATE", "DELETE")]
    assert queries, f"{name} ran no query"
    for sql in queries:
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
        full_scans = [
            step
            for step in plan
            if step.startswith("SCAN ")
            and " USING " not in step
            and not (name == "recent_events" and step == "SCAN events")
        ]
        assert not full_scans, f"{name}: {sql!r} scans a table: {plan}"
        if name in ORDERED_BY_INDEX:
            assert not any("TEMP B-TREE" in step for step in plan), f"{name}: {sql!r} sorts: {plan}"


# --- concurrency --------------------------------------------------------------------------------


def _process_worker(path: str, worker: int, barrier, results) -> None:
    """One of several processes: open a fresh file, race for the shared experiment, then write 50 + 25 times."""
    store = SqliteExperimentStore(path)
    barrier.wait()
    shared = make_experiment(0)
    created = store.create_experiment(shared)
    try:
        store.update_experiment(
            shared.id, {"status": "validating", "stage": f"claimed by {worker}"}, expect_status=("proposed",)
        )
        claimed = True
    except ConflictError:
        claimed = False
    for k in range(50):
        store.create_experiment(make_experiment(1000 * (worker + 1) + k, parents=[shared.id]))
        if k % 2:
            store.update_experiment(shared.id, {WORKER_FIELDS[worker]: f"w{worker}-{k}"})
    store.close()
    results.put((worker, created, claimed))


def test_processes_write_concurrently_without_losing_anything(tmp_path):
    path = tmp_path / "lab.sqlite"
    barrier, results = SPAWN.Barrier(4), SPAWN.Queue()
    processes = [SPAWN.Process(target=_process_worker, args=(str(path), w, barrier, results)) for w in range(4)]
    for process in processes:
        process.start()
    outcomes = sorted(results.get(timeout=WAIT_S) for _ in processes)
    for process in processes:
        process.join(WAIT_S)
        assert process.exitcode == 0
    assert sum(created for _, created, _ in outcomes) == 1
    assert sum(claimed for _, _, claimed in outcomes) == 1
    winner = next(worker for worker, _, claimed in outcomes if claimed)

    store = SqliteExperimentStore(path)
    expected = {make_experiment(1000 * (w + 1) + k).id for w in range(4) for k in range(50)}
    listed = [r.id for page in walk_pages(store, limit=37) for r in page]
    assert len(listed) == len(set(listed)) == 201
    assert set(listed) == expected | {make_experiment(0).id}
    assert {r.id for r in store.children(make_experiment(0).id)} == expected
    shared = store.get_experiment(make_experiment(0).id)
    assert shared.status == "validating" and shared.stage == f"claimed by {winner}"
    assert {field: getattr(shared, field) for field in WORKER_FIELDS[:4]} == {
        field: f"w{w}-49" for w, field in enumerate(WORKER_FIELDS[:4])
    }  # each worker's last write
    assert integrity(path) == "ok"


def test_threads_share_one_store_without_losing_updates(store):
    target = seed(store, [0])[0].id

    def work(worker: int) -> None:
        for k in range(20):
            store.create_experiment(make_experiment(1000 * (worker + 1) + k))
            store.update_experiment(target, {WORKER_FIELDS[worker]: f"t{worker}-{k}"})

    with ThreadPoolExecutor(len(WORKER_FIELDS)) as pool:
        list(pool.map(work, range(len(WORKER_FIELDS))))
    record = store.get_experiment(target)
    assert {field: getattr(record, field) for field in WORKER_FIELDS} == {
        field: f"t{w}-19" for w, field in enumerate(WORKER_FIELDS)
    }  # no worker's last write was lost
    assert store.count_by_status()["proposed"] == 20 * len(WORKER_FIELDS) + 1
    assert integrity(store.path) == "ok"


# --- a writer killed mid-write ------------------------------------------------------------------


def _write_forever(path: str, progress) -> None:
    """Create, update and log experiments with large records until killed."""
    store = SqliteExperimentStore(path)
    n = 0
    while True:
        record = make_experiment(n, parents=[make_experiment(n - 1).id] if n else [], settings={"blob": "x" * 50_000})
        store.create_experiment(record)
        store.update_experiment(record.id, {"status": "failed", "failure": {"stage": "encode", "reason": "r"}})
        store.add_event(record.id, "failure", "encode failed", {"n": n})
        n += 1
        progress.value = n


def _stall_inside_create(path: str, inside) -> None:
    """Begin creating an experiment, then stall inside the transaction, after the row's insert."""
    store = SqliteExperimentStore(path)

    def stall(*args) -> None:
        inside.set()
        time.sleep(WAIT_S)

    store._write_parents = stall
    store.create_experiment(make_experiment(1, parents=["exp-parent"]))


def _kill(process) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.join(WAIT_S)
    assert process.exitcode == -signal.SIGKILL


def test_a_writer_killed_while_writing_leaves_a_consistent_file(tmp_path):
    path = tmp_path / "lab.sqlite"
    progress = SPAWN.Value("i", 0)
    writer = SPAWN.Process(target=_write_forever, args=(str(path), progress))
    writer.start()
    deadline = time.monotonic() + WAIT_S
    while progress.value < 30 and time.monotonic() < deadline and writer.is_alive():
        time.sleep(0.01)
    assert progress.value >= 30, "the writer never got going"
    _kill(writer)

    assert integrity(path) == "ok"
    store = SqliteExperimentStore(path, busy_timeout_s=5)
    records = [r for page in walk_pages(store, limit=50) for r in page]
    numbers = sorted(int(r.id.rsplit("-", 1)[1]) for r in records)
    assert numbers == list(range(len(numbers))) and len(numbers) >= 30
    for record in records[1:]:  # every one but the newest was finished: updated and logged
        assert record.status == "failed" and len(store.events(record.id)) == 1
    for n in numbers[1:]:
        assert [r.id for r in store.children(make_experiment(n - 1).id)] == [make_experiment(n).id]
    assert store.create_experiment(make_experiment(10**6)) is True


def test_a_writer_killed_inside_a_transaction_leaves_nothing_half_written(tmp_path):
    path = tmp_path / "lab.sqlite"
    SqliteExperimentStore(path).close()
    inside = SPAWN.Event()
    writer = SPAWN.Process(target=_stall_inside_create, args=(str(path), inside))
    writer.start()
    assert inside.wait(WAIT_S), "the writer never reached its transaction"
    _kill(writer)

    assert integrity(path) == "ok"
    store = SqliteExperimentStore(path, busy_timeout_s=5)
    assert store.get_experiment(make_experiment(1).id) is None
    assert store.create_experiment(make_experiment(1, parents=["exp-parent"])) is True
    assert [r.id for r in store.children("exp-parent")] == [make_experiment(1).id]
