"""The embedded ExperimentStore: one SQLite file, safe for many threads and processes.

WAL journal (readers never block the writer), a busy timeout (writers queue rather than fail),
one connection per thread and process, every write in one transaction. Read-modify-write
(`update_experiment`) starts with BEGIN IMMEDIATE, so concurrent updaters are serialised and
none loses another's fields. `synchronous=NORMAL`: a committed write survives the process being
killed; a power cut may lose the last commits but never corrupts the file.

The full record is stored as JSON (Experiment.as_record; read back with Experiment.from_record);
the columns that queries filter or sort on (created_at, status, score, score_validation,
code_sha256, run_id, benchmark) are copied out of it and indexed, so no page view reads the whole
table. Rankings are per benchmark: (benchmark, status, score, id). The
schema is versioned with PRAGMA user_version and upgraded by the ordered MIGRATIONS; a file written
by a newer version of the lab is refused.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from aiv.errors import UsageError
from aiv.store.checks import (
    check_limit,
    check_record,
    check_status,
    decode_cursor,
    dumps_strict,
    encode_cursor,
    split_field,
)
from aiv.store.ports import ConflictError, Page
from aiv.store.records import STATUSES, UNKNOWN_BENCHMARK, Experiment, now_iso

# MIGRATIONS[i] takes the schema from version i to version i + 1.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE experiments (
            id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            status TEXT NOT NULL,
            score REAL,
            score_validation REAL,
            code_sha256 TEXT,
            run_id TEXT,
            record TEXT NOT NULL)""",
        "CREATE INDEX experiments_by_created ON experiments (created_at, id)",
        "CREATE INDEX experiments_by_status ON experiments (status, created_at, id)",
        "CREATE INDEX experiments_by_score ON experiments (status, score, id)",
        "CREATE INDEX experiments_by_score_validation ON experiments (status, score_validation, id)",
        "CREATE INDEX experiments_by_code ON experiments (code_sha256, created_at, id)",
        "CREATE INDEX experiments_by_run ON experiments (run_id, created_at, id)",
        """CREATE TABLE experiment_parents (
            parent_id TEXT NOT NULL,
            experiment_id TEXT NOT NULL,
            PRIMARY KEY (parent_id, experiment_id)) WITHOUT ROWID""",
        "CREATE INDEX experiment_parents_by_child ON experiment_parents (experiment_id)",
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            experiment_id TEXT,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            message TEXT NOT NULL,
            data TEXT NOT NULL)""",
        "CREATE INDEX events_by_experiment ON events (experiment_id, seq)",
        "CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ),
    (  # 2: the benchmark of each experiment; records stored before it are of the unknown benchmark
        f"ALTER TABLE experiments ADD COLUMN benchmark TEXT NOT NULL DEFAULT '{UNKNOWN_BENCHMARK}'",
        "DROP INDEX experiments_by_score",
        "DROP INDEX experiments_by_score_validation",
        "CREATE INDEX experiments_by_score ON experiments (benchmark, status, score, id)",
        "CREATE INDEX experiments_by_score_validation ON experiments (benchmark, status, score_validation, id)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

_INDEXED_FIELDS = ("created_at", "status", "score", "score_validation", "code_sha256", "run_id", "benchmark")


def _indexed_values(record: dict) -> tuple:
    """The values of _INDEXED_FIELDS copied out of a stored record."""
    return tuple(record[field] for field in _INDEXED_FIELDS)


def _experiment(text: str) -> Experiment:
    return Experiment.from_record(json.loads(text))


def migrate(conn: sqlite3.Connection, migrations: Sequence[Sequence[str]] = MIGRATIONS) -> int:
    """Bring the database behind `conn` (in autocommit mode) up to len(migrations); return that version.

    Each step runs in its own IMMEDIATE transaction together with its user_version bump, so a
    crash leaves the file at one version or the next, and concurrent openers apply it once.
    UsageError when the file is newer than `migrations` knows.
    """
    target = len(migrations)
    while True:
        with _immediate(conn):
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > target:
                raise UsageError(
                    f"store schema version {version} is newer than this code knows "
                    f"(version {target}); upgrade the lab to open it"
                )
            if version == target:
                return version
            for statement in migrations[version]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction that takes the write lock at once (waiting up to the busy timeout)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLite may have rolled back already (e.g. a full disk)
            conn.execute("ROLLBACK")
        raise


def _write_state(conn: sqlite3.Connection, key: str, value: dict) -> None:
    conn.execute(
        "INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, dumps_strict(value)),
    )


class SqliteExperimentStore:
    """ExperimentStore on one SQLite file at `path` (created, with its folder, when absent)."""

    def __init__(self, path: str | os.PathLike, busy_timeout_s: float = 30.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._opened_lock = threading.Lock()
        try:
            migrate(self._connection())
        except sqlite3.DatabaseError as exc:
            self.close()
            raise UsageError(f"cannot open the experiment store {self.path}: {exc}") from exc

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection (a new one after a fork: connections never cross processes)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        # timeout= is SQLite's busy_timeout: a locked database is retried for that long, not failed.
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        self._local.conn, self._local.pid = conn, os.getpid()
        with self._opened_lock:
            self._opened.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection this store opened in this process."""
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()
        self._local = threading.local()

    def schema_version(self) -> int:
        """The schema version of the open file (SCHEMA_VERSION once opened)."""
        return self._connection().execute("PRAGMA user_version").fetchone()[0]

    def create_experiment(self, experiment: Experiment) -> bool:
        """Store a new experiment; False, and no change, if its id exists already."""
        record = experiment.as_record()
        check_record(record)
        text = dumps_strict(record)
        with _immediate(self._connection()) as conn:
            inserted = (
                conn.execute(
                    f"INSERT OR IGNORE INTO experiments ({', '.join(('id', *_INDEXED_FIELDS))}, record) "
                    f"VALUES ({', '.join('?' * (len(_INDEXED_FIELDS) + 2))})",
                    (record["id"], *_indexed_values(record), text),
                ).rowcount
                == 1
            )
            if inserted:
                self._write_parents(conn, record["id"], record["parents"] or [])
        return inserted

    def update_experiment(
        self, experiment_id: str, fields: dict, expect_status: tuple[str, ...] | None = None
    ) -> Experiment:
        """Set `fields` (each replaces its whole value) on the experiment, atomically."""
        if "id" in fields and fields["id"] != experiment_id:
            raise ValueError(f"update of {experiment_id!r} may not change its id to {fields['id']!r}")
        with _immediate(self._connection()) as conn:
            row = conn.execute("SELECT record FROM experiments WHERE id = ?", (experiment_id,)).fetchone()
            if row is None:
                raise KeyError(experiment_id)
            stored = _experiment(row[0])
            if expect_status is not None and stored.status not in expect_status:
                raise ConflictError(
                    f"experiment {experiment_id} is {stored.status!r}, expected one of {tuple(expect_status)}"
                )
            experiment = stored.with_fields({**fields, "updated_at": now_iso()})
            record = experiment.as_record()
            check_record(record)
            conn.execute(
                f"UPDATE experiments SET {', '.join(f'{field} = ?' for field in _INDEXED_FIELDS)}, record = ? "
                "WHERE id = ?",
                (*_indexed_values(record), dumps_strict(record), experiment_id),
            )
            if "parents" in fields:
                conn.execute("DELETE FROM experiment_parents WHERE experiment_id = ?", (experiment_id,))
                self._write_parents(conn, experiment_id, record["parents"] or [])
        return experiment

    @staticmethod
    def _write_parents(conn: sqlite3.Connection, experiment_id: str, parents: list[str]) -> None:
        conn.executemany(
            "INSERT OR IGNORE INTO experiment_parents (parent_id, experiment_id) VALUES (?, ?)",
            [(parent, experiment_id) for parent in parents],
        )

    def get_experiment(self, experiment_id: str) -> Experiment | None:
        """One experiment by id, or None."""
        row = self._connection().execute("SELECT record FROM experiments WHERE id = ?", (experiment_id,)).fetchone()
        return None if row is None else _experiment(row[0])

    def list_experiments(self, status: str | None = None, limit: int = 50, cursor: str | None = None) -> Page:
        """Experiments newest first (created_at, then id), optionally one status; paged by `cursor`."""
        check_limit(limit)
        where: list[str] = []
        params: list[object] = []
        if status is not None:
            check_status(status)
            where.append("status = ?")
            params.append(status)
        if cursor is not None:
            where.append("(created_at, id) < (?, ?)")
            params.extend(decode_cursor(cursor))
        rows = (
            self._connection()
            .execute(
                "SELECT created_at, id, record FROM experiments "
                f"{'WHERE ' + ' AND '.join(where) if where else ''} "
                "ORDER BY created_at DESC, id DESC LIMIT ?",
                (*params, limit + 1),
            )
            .fetchall()
        )
        next_cursor = encode_cursor(rows[limit - 1][0], rows[limit - 1][1]) if len(rows) > limit else None
        return Page(items=[_experiment(row[2]) for row in rows[:limit]], cursor=next_cursor)

    def best_experiments(self, limit: int = 10, split: str = "train", *, benchmark: str) -> list[Experiment]:
        """Succeeded experiments of `benchmark` with a score on `split`, lowest first (ties: older id first)."""
        return self.ranked_experiments(split=split, limit=limit, benchmark=benchmark).items

    def ranked_experiments(
        self, split: str = "train", limit: int = 50, cursor: str | None = None, *, benchmark: str
    ) -> Page:
        """Succeeded experiments of `benchmark` with a score on `split`, lowest first (ties: id), paged by `cursor`."""
        check_limit(limit)
        column = split_field(split)
        where = [f"benchmark = ? AND status = 'succeeded' AND {column} IS NOT NULL"]
        params: list[object] = [benchmark]
        if cursor is not None:
            where.append(f"({column}, id) > (?, ?)")
            params.extend(decode_cursor(cursor, (int, float)))
        rows = (
            self._connection()
            .execute(
                f"SELECT {column}, id, record FROM experiments WHERE {' AND '.join(where)} ORDER BY {column}, id LIMIT ?",
                (*params, limit + 1),
            )
            .fetchall()
        )
        next_cursor = encode_cursor(rows[limit - 1][0], rows[limit - 1][1]) if len(rows) > limit else None
        return Page(items=[_experiment(row[2]) for row in rows[:limit]], cursor=next_cursor)

    def children(self, experiment_id: str) -> list[Experiment]:
        """Experiments that name `experiment_id` among their parents, oldest first."""
        rows = (
            self._connection()
            .execute(
                "SELECT e.record FROM experiment_parents AS p JOIN experiments AS e ON e.id = p.experiment_id "
                "WHERE p.parent_id = ? ORDER BY e.created_at, e.id",
                (experiment_id,),
            )
            .fetchall()
        )
        return [_experiment(row[0]) for row in rows]

    def find_by_code(self, code_sha256: str) -> list[Experiment]:
        """Experiments whose code has this sha256, oldest first."""
        rows = (
            self._connection()
            .execute(
                "SELECT record FROM experiments WHERE code_sha256 = ? ORDER BY created_at, id",
                (code_sha256,),
            )
            .fetchall()
        )
        return [_experiment(row[0]) for row in rows]

    def count_by_status(self) -> dict[str, int]:
        """How many experiments are in each status (every status named, zeros included)."""
        counts = dict.fromkeys(STATUSES, 0)
        counts.update(self._connection().execute("SELECT status, count(*) FROM experiments GROUP BY status").fetchall())
        return counts

    def add_event(self, experiment_id: str | None, kind: str, message: str, data: dict | None = None) -> dict:
        """Append an event; returns it with its `seq` and `at`."""
        event: dict[str, object] = {
            "experiment_id": experiment_id,
            "at": now_iso(),
            "kind": kind,
            "message": message,
            "data": dict(data or {}),
        }
        with _immediate(self._connection()) as conn:
            event["seq"] = conn.execute(
                "INSERT INTO events (experiment_id, at, kind, message, data) VALUES (?, ?, ?, ?, ?)",
                (experiment_id, event["at"], kind, message, dumps_strict(event["data"])),
            ).lastrowid
        return event

    def events(self, experiment_id: str, limit: int = 200) -> list[dict]:
        """One experiment's newest `limit` events, oldest first."""
        check_limit(limit)
        rows = (
            self._connection()
            .execute(
                "SELECT seq, experiment_id, at, kind, message, data FROM events WHERE experiment_id = ? "
                "ORDER BY seq DESC LIMIT ?",
                (experiment_id, limit),
            )
            .fetchall()
        )
        return [self._event(row) for row in reversed(rows)]

    def recent_events(self, limit: int = 50) -> list[dict]:
        """The newest events of every experiment and the campaign, newest first."""
        check_limit(limit)
        rows = (
            self._connection()
            .execute(
                "SELECT seq, experiment_id, at, kind, message, data FROM events ORDER BY seq DESC LIMIT ?",
                (limit,),
            )
            .fetchall()
        )
        return [self._event(row) for row in rows]

    @staticmethod
    def _event(row: tuple) -> dict:
        seq, experiment_id, at, kind, message, data = row
        return {
            "seq": seq,
            "experiment_id": experiment_id,
            "at": at,
            "kind": kind,
            "message": message,
            "data": json.loads(data),
        }

    def get_state(self, key: str) -> dict | None:
        """A campaign-state document, or None."""
        row = self._connection().execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put_state(self, key: str, value: dict) -> None:
        """Replace a campaign-state document."""
        with _immediate(self._connection()) as conn:
            _write_state(conn, key, value)

    def swap_state(self, key: str, expected: dict | None, value: dict) -> bool:
        """Replace a campaign-state document if it still is `expected`: read and write under the write lock."""
        with _immediate(self._connection()) as conn:
            row = conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
            if (None if row is None else json.loads(row[0])) != expected:
                return False
            _write_state(conn, key, value)
        return True
