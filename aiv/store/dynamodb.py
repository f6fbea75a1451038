"""The AWS ExperimentStore: one DynamoDB table, read by key and by index query, never scanned.

The item layout and the indexes are in aiv/store/table_design.py. An experiment item holds the
record as JSON text (Experiment.as_record, read back with Experiment.from_record; floats, None and
nesting round-trip exactly, as in the SQLite store) plus the index attributes copied out of it; an
attribute absent from an item keeps the item out of that (sparse) index, so a status or score that
goes away takes the experiment out of the score indexes on the same write.

Every experiment write is one TransactWriteItems: the item, its parent links and the per-status
counters change together, so `count_by_status` is exact without reading the experiments.
Read-modify-write is optimistic: an update reads the item and its `version`, and writes only if
the version is unchanged, else reads again and retries; no concurrent update is ever lost.
Event sequence numbers come from an atomic counter item. Listing cursors are the same
(created_at, id) positions the SQLite store uses, so a page follows the last one exactly even when
experiments are added meanwhile. Index queries are eventually consistent (a write shows up in a
listing within about a second); reads by key are strongly consistent.
"""

from __future__ import annotations

import json
import random
import struct
import time
from collections.abc import Callable
from typing import TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from aiv.errors import UsageError
from aiv.store.ports import ConflictError, Page
from aiv.store.records import STATUSES, UNKNOWN_BENCHMARK, Experiment, now_iso
from aiv.store.checks import (
    check_limit,
    check_record,
    check_status,
    decode_cursor,
    dumps_strict,
    encode_cursor,
    split_field,
)
from aiv.store.table_design import (
    BY_CODE,
    BY_EVENT,
    BY_STATUS,
    BY_TIME,
    MAX_ITEM_BYTES,
    PARTITION_KEY,
    SCHEMA_VERSION,
    SCORE_INDEXES,
    SORT_KEY,
    GlobalIndex,
)

T = TypeVar("T")

_META = "META"
_CHILD = "CHILD#"
_EVENT = "EVT#"
_SEPARATOR = "\0"  # sorts before every other character, so "<created_at>\0<id>" orders as (created_at, id)
_MAX_TRANSACT_ITEMS = 100
_MAX_BATCH_GET = 100
_MAX_ATTEMPTS = 60
_BACKOFF_S = (0.005, 0.25)  # first and largest upper bound of the random wait between attempts
_TRANSIENT = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
_NUMBER_BYTES = 21  # the most a DynamoDB number takes
# Older schema versions whose items this code reads unchanged: 1 (no benchmark) ranks as the unknown benchmark.
_UPGRADES = (1,)


class _Retry(Exception):
    """A write lost a race that a fresh attempt can win."""


def _s(value: str) -> dict:
    return {"S": value}


def _n(value: int) -> dict:
    return {"N": str(value)}


def _time_key(created_at: str, experiment_id: str) -> str:
    return f"{created_at}{_SEPARATOR}{experiment_id}"


def _score_key(field: str, score: float, experiment_id: str) -> str:
    """A text key that sorts as (score, id) does: the IEEE-754 bits made order-preserving, in hex."""
    try:
        value = float(score) + 0.0  # ints as SQLite's REAL column holds them; -0.0 becomes 0.0
    except OverflowError:
        raise ValueError(f"experiment {field!r} {score!r} is too large for a float") from None
    bits = struct.unpack(">Q", struct.pack(">d", value))[0]
    bits = bits ^ 0xFFFF_FFFF_FFFF_FFFF if bits >> 63 else bits | 1 << 63
    return f"{bits:016x}#{experiment_id}"


def _score_partition(benchmark: str, split: str) -> str:
    """The score index partition of one benchmark and split (the unknown benchmark's is schema 1's "SCORE#<split>",
    so items written before benchmarks were recorded rank as that benchmark without being rewritten)."""
    return f"SCORE#{split}" if benchmark == UNKNOWN_BENCHMARK else f"SCORE#{benchmark}#{split}"


def _experiment_pk(experiment_id: str) -> str:
    return f"EXP#{experiment_id}"


def _item_bytes(item: dict) -> int:
    """The size DynamoDB charges an item of string and number attributes (numbers at their largest)."""
    return sum(
        len(name.encode()) + (len(value["S"].encode()) if "S" in value else _NUMBER_BYTES)
        for name, value in item.items()
    )


def _check_size(item: dict, what: str) -> dict:
    size = _item_bytes(item)
    if size > MAX_ITEM_BYTES:
        raise ValueError(f"{what} is {size} bytes as a DynamoDB item, over the {MAX_ITEM_BYTES}-byte limit")
    return item


def _experiment_item(record: dict, version: int) -> dict:
    """The table item of a checked record: key, JSON, version and the attributes of its indexes."""
    experiment_id = record["id"]
    time_key = _time_key(record["created_at"], experiment_id)
    item = {
        PARTITION_KEY: _s(_experiment_pk(experiment_id)),
        SORT_KEY: _s(_META),
        "record": _s(dumps_strict(record)),
        "version": _n(version),
        BY_TIME.partition_key: _s("EXP"),
        BY_TIME.sort_key: _s(time_key),
        BY_STATUS.partition_key: _s(record["status"]),
        BY_STATUS.sort_key: _s(time_key),
    }
    if record.get("code_sha256") is not None:
        item[BY_CODE.partition_key] = _s(f"CODE#{record['code_sha256']}")
        item[BY_CODE.sort_key] = _s(time_key)
    if record["status"] == "succeeded":
        for split, index in SCORE_INDEXES.items():
            field = split_field(split)
            if record.get(field) is not None:
                item[index.partition_key] = _s(_score_partition(record["benchmark"], split))
                item[index.sort_key] = _s(_score_key(field, record[field], experiment_id))
    return _check_size(item, f"experiment {experiment_id!r}")


def _link_keys(record: dict) -> set[tuple[str, str]]:
    """The (pk, sk) of each parent link of a record: one per distinct parent."""
    sort_key = _CHILD + _time_key(record["created_at"], record["id"])
    return {(_experiment_pk(parent), sort_key) for parent in record.get("parents") or []}


def _record(item: dict) -> dict:
    return json.loads(item["record"]["S"])


def _experiment(item: dict) -> Experiment:
    return Experiment.from_record(_record(item))


def _backoff(attempt: int) -> None:
    first, largest = _BACKOFF_S
    time.sleep(random.uniform(0, min(largest, first * 2**attempt)))


class DynamoExperimentStore:
    """ExperimentStore on the DynamoDB table `table_name` (created by the stack or table_design.create_tables).

    `client` is a boto3 DynamoDB client (default: one for the environment's region and
    credentials). Opening reads the table's schema version, recording it on a new table;
    UsageError when the table is missing or was written by a newer version of the lab.
    """

    def __init__(self, table_name: str, client=None):
        self.table_name = table_name
        self.client = client or boto3.client("dynamodb", config=Config(retries={"mode": "standard"}))
        try:
            version = self.schema_version()
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            raise UsageError(
                f"cannot open the experiment store: DynamoDB table {table_name!r} does not exist"
            ) from None
        if version > SCHEMA_VERSION:
            raise UsageError(
                f"store schema version {version} is newer than this code knows "
                f"(version {SCHEMA_VERSION}); upgrade the lab to open it"
            )

    # --- low-level calls --------------------------------------------------------------------------

    def _call(self, operation: str, **params) -> dict:
        """One API call on the table; a request DynamoDB refuses as invalid becomes ValueError."""
        try:
            return getattr(self.client, operation)(TableName=self.table_name, **params)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ValidationException":
                raise ValueError(f"DynamoDB refused {operation}: {exc.response['Error']['Message']}") from None
            raise

    def _get(self, pk: str, sk: str) -> dict | None:
        return self._call("get_item", Key={PARTITION_KEY: _s(pk), SORT_KEY: _s(sk)}, ConsistentRead=True).get("Item")

    def _query(
        self,
        want: int | None,
        partition: str,
        index: GlobalIndex | None = None,
        sort: tuple[str, str] | None = None,
        newest_first: bool = False,
    ) -> list[dict]:
        """Up to `want` items (all when None) of one partition of the table or of `index`, in key order.

        `sort` keeps the sort keys that are ("<", key), (">", key) or ("begins_with", prefix). Pages
        of DynamoDB's 1 MB response limit are followed until `want` items are in hand.
        """
        pk, sk = (index.partition_key, index.sort_key) if index else (PARTITION_KEY, SORT_KEY)
        condition, names, values = "#pk = :pk", {"#pk": pk}, {":pk": _s(partition)}
        if sort is not None:
            operator, names["#sk"], values[":sk"] = sort[0], sk, _s(sort[1])
            condition += f" AND {operator}(#sk, :sk)" if operator == "begins_with" else f" AND #sk {operator} :sk"
        params = {
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": not newest_first,
        }
        params.update({"IndexName": index.name} if index else {"ConsistentRead": True})
        items: list[dict] = []
        while True:
            if want is not None:
                params["Limit"] = want - len(items)
            response = self._call("query", **params)
            items += response["Items"]
            if "LastEvaluatedKey" not in response or (want is not None and len(items) >= want):
                return items
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _get_many(self, experiment_ids: list[str]) -> list[Experiment]:
        """The experiments of these ids, in this order (consistent reads, 100 keys a request)."""
        found: dict[str, Experiment] = {}
        unique = list(dict.fromkeys(experiment_ids))
        for start in range(0, len(unique), _MAX_BATCH_GET):
            keys = [
                {PARTITION_KEY: _s(_experiment_pk(i)), SORT_KEY: _s(_META)}
                for i in unique[start : start + _MAX_BATCH_GET]
            ]
            request = {self.table_name: {"ConsistentRead": True, "Keys": keys}}
            attempt = 0
            while request:
                response = self.client.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self.table_name, []):
                    experiment = _experiment(item)
                    found[experiment.id] = experiment
                request = response.get("UnprocessedKeys") or {}
                if request:
                    _backoff(attempt)
                    attempt += 1
        return [found[i] for i in experiment_ids if i in found]

    def _transact(self, actions: list[dict], what: str) -> bool:
        """Commit `actions` as one transaction: True; False when the first action's condition failed.

        _Retry when the transaction lost a race with another (a fresh attempt may win).
        """
        if len(actions) > _MAX_TRANSACT_ITEMS:
            raise ValueError(
                f"{what} needs {len(actions)} writes in one transaction; DynamoDB allows "
                f"{_MAX_TRANSACT_ITEMS} (too many parents?)"
            )
        items = [{op: {**body, "TableName": self.table_name}} for action in actions for op, body in action.items()]
        try:
            self.client.transact_write_items(TransactItems=items)
            return True
        except ClientError as exc:
            error = exc.response["Error"]
            if error["Code"] == "ValidationException":
                raise ValueError(f"DynamoDB refused the write of {what}: {error['Message']}") from None
            if error["Code"] != "TransactionCanceledException":
                raise
            codes = [reason.get("Code", "None") for reason in exc.response.get("CancellationReasons", [])]
            if codes[:1] == ["ConditionalCheckFailed"]:
                return False
            if _TRANSIENT.intersection(codes):
                raise _Retry from None
            raise

    @staticmethod
    def _retrying(attempt: Callable[[], T], what: str) -> T:
        """Run `attempt` until it stops raising _Retry, waiting a random, growing while between tries."""
        for number in range(_MAX_ATTEMPTS):
            try:
                return attempt()
            except _Retry:
                _backoff(number)
        raise ConflictError(f"{what} lost the race to concurrent writers {_MAX_ATTEMPTS} times; try again")

    @staticmethod
    def _count(status: str, delta: int) -> dict:
        return {
            "Update": {
                "Key": {PARTITION_KEY: _s("COUNT"), SORT_KEY: _s(status)},
                "UpdateExpression": "ADD #n :delta",
                "ExpressionAttributeNames": {"#n": "n"},
                "ExpressionAttributeValues": {":delta": _n(delta)},
            }
        }

    @staticmethod
    def _link_writes(old: set[tuple[str, str]], new: set[tuple[str, str]], child_id: str) -> list[dict]:
        """Delete the links only in `old`, put those only in `new`."""
        deletes = [{"Delete": {"Key": {PARTITION_KEY: _s(pk), SORT_KEY: _s(sk)}}} for pk, sk in sorted(old - new)]
        puts = [
            {"Put": {"Item": {PARTITION_KEY: _s(pk), SORT_KEY: _s(sk), "child_id": _s(child_id)}}}
            for pk, sk in sorted(new - old)
        ]
        return deletes + puts

    # --- the port ---------------------------------------------------------------------------------

    def schema_version(self) -> int:
        """The layout version of the table's items (recorded as SCHEMA_VERSION on first use; a table of an
        older version is upgraded in place when its items read as they are, see _UPGRADES)."""
        version = self._stored_version()
        if version in _UPGRADES:
            try:
                self._call(
                    "put_item",
                    Item={PARTITION_KEY: _s("SCHEMA"), SORT_KEY: _s("SCHEMA"), "version": _n(SCHEMA_VERSION)},
                    ConditionExpression="#version = :old",
                    ExpressionAttributeNames={"#version": "version"},
                    ExpressionAttributeValues={":old": _n(version)},
                )
            except ClientError as exc:  # another opener upgraded it first
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
            version = self._stored_version()
        return version

    def _stored_version(self) -> int:
        item = self._get("SCHEMA", "SCHEMA")
        if item is None:
            try:
                self._call(
                    "put_item",
                    Item={PARTITION_KEY: _s("SCHEMA"), SORT_KEY: _s("SCHEMA"), "version": _n(SCHEMA_VERSION)},
                    ConditionExpression="attribute_not_exists(#pk)",
                    ExpressionAttributeNames={"#pk": PARTITION_KEY},
                )
                return SCHEMA_VERSION
            except ClientError as exc:  # another opener recorded it first
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
            item = self._get("SCHEMA", "SCHEMA")
            if item is None:
                raise RuntimeError("the table's SCHEMA item was neither written nor readable")
        return int(item["version"]["N"])

    def create_experiment(self, experiment: Experiment) -> bool:
        """Store a new experiment; False, and no change, if its id exists already."""
        record = experiment.as_record()
        check_record(record)
        item = _experiment_item(record, version=1)
        actions = [
            {
                "Put": {
                    "Item": item,
                    "ConditionExpression": "attribute_not_exists(#pk)",
                    "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
                }
            },
            self._count(record["status"], 1),
            *self._link_writes(set(), _link_keys(record), record["id"]),
        ]
        what = f"experiment {record['id']!r}"
        return self._retrying(lambda: self._transact(actions, what), what)

    def update_experiment(
        self, experiment_id: str, fields: dict, expect_status: tuple[str, ...] | None = None
    ) -> Experiment:
        """Set `fields` (each replaces its whole value) on the experiment, atomically."""
        if "id" in fields and fields["id"] != experiment_id:
            raise ValueError(f"update of {experiment_id!r} may not change its id to {fields['id']!r}")
        what = f"update of experiment {experiment_id!r}"

        def attempt() -> Experiment:
            item = self._get(_experiment_pk(experiment_id), _META)
            if item is None:
                raise KeyError(experiment_id)
            old, version = _record(item), int(item["version"]["N"])
            if expect_status is not None and old["status"] not in expect_status:
                raise ConflictError(
                    f"experiment {experiment_id} is {old['status']!r}, expected one of {tuple(expect_status)}"
                )
            experiment = Experiment.from_record(old).with_fields({**fields, "updated_at": now_iso()})
            record = experiment.as_record()
            check_record(record)
            actions = [
                {
                    "Put": {
                        "Item": _experiment_item(record, version + 1),
                        "ConditionExpression": "#version = :version",
                        "ExpressionAttributeNames": {"#version": "version"},
                        "ExpressionAttributeValues": {":version": _n(version)},
                    }
                }
            ]
            if record["status"] != old["status"]:
                actions += [self._count(old["status"], -1), self._count(record["status"], 1)]
            actions += self._link_writes(_link_keys(old), _link_keys(record), experiment_id)
            if not self._transact(actions, what):
                raise _Retry  # another writer changed it since we read it
            return experiment

        return self._retrying(attempt, what)

    def get_experiment(self, experiment_id: str) -> Experiment | None:
        """One experiment by id, or None."""
        item = self._get(_experiment_pk(experiment_id), _META)
        return None if item is None else _experiment(item)

    def list_experiments(self, status: str | None = None, limit: int = 50, cursor: str | None = None) -> Page:
        """Experiments newest first (created_at, then id), optionally one status; paged by `cursor`."""
        check_limit(limit)
        index, partition = BY_TIME, "EXP"
        if status is not None:
            check_status(status)
            index, partition = BY_STATUS, status
        sort = None if cursor is None else ("<", _time_key(*decode_cursor(cursor)))
        found = [
            _experiment(item) for item in self._query(limit + 1, partition, index=index, sort=sort, newest_first=True)
        ]
        if len(found) <= limit:
            return Page(items=found, cursor=None)
        last = found[limit - 1]
        return Page(items=found[:limit], cursor=encode_cursor(last.created_at, last.id))

    def best_experiments(self, limit: int = 10, split: str = "train", *, benchmark: str) -> list[Experiment]:
        """Succeeded experiments of `benchmark` with a score on `split`, lowest first (ties: older id first)."""
        return self.ranked_experiments(split=split, limit=limit, benchmark=benchmark).items

    def ranked_experiments(
        self, split: str = "train", limit: int = 50, cursor: str | None = None, *, benchmark: str
    ) -> Page:
        """Succeeded experiments of `benchmark` with a score on `split`, lowest first (ties: id), paged by
        `cursor`: one query of the split's score index, in the benchmark's partition."""
        check_limit(limit)
        field = split_field(split)
        sort = None
        if cursor is not None:
            score, experiment_id = decode_cursor(cursor, (int, float))
            sort = (">", _score_key(field, score, experiment_id))
        found = [
            _experiment(item)
            for item in self._query(
                limit + 1, _score_partition(benchmark, split), index=SCORE_INDEXES[split], sort=sort
            )
        ]
        if len(found) <= limit:
            return Page(items=found, cursor=None)
        last = found[limit - 1]  # the cursor holds the score as SQLite's REAL column does: a float
        return Page(items=found[:limit], cursor=encode_cursor(float(getattr(last, field)), last.id))

    def children(self, experiment_id: str) -> list[Experiment]:
        """Experiments that name `experiment_id` among their parents, oldest first."""
        links = self._query(None, _experiment_pk(experiment_id), sort=("begins_with", _CHILD))
        return self._get_many([link["child_id"]["S"] for link in links])

    def find_by_code(self, code_sha256: str) -> list[Experiment]:
        """Experiments whose code has this sha256, oldest first."""
        return [_experiment(item) for item in self._query(None, f"CODE#{code_sha256}", index=BY_CODE)]

    def count_by_status(self) -> dict[str, int]:
        """How many experiments are in each status (every status named, zeros included)."""
        counts = dict.fromkeys(STATUSES, 0)
        counts.update({item[SORT_KEY]["S"]: int(item["n"]["N"]) for item in self._query(None, "COUNT")})
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
        dumps_strict(event)  # refuse what JSON cannot hold before taking a sequence number
        counter = self._call(
            "update_item",
            Key={PARTITION_KEY: _s("COUNTER"), SORT_KEY: _s("EVENT_SEQ")},
            UpdateExpression="ADD #n :one",
            ExpressionAttributeNames={"#n": "n"},
            ExpressionAttributeValues={":one": _n(1)},
            ReturnValues="UPDATED_NEW",
        )
        event["seq"] = int(counter["Attributes"]["n"]["N"])
        sequence = f"{event['seq']:020d}"
        item = {
            PARTITION_KEY: _s("CAMPAIGN" if experiment_id is None else _experiment_pk(experiment_id)),
            SORT_KEY: _s(_EVENT + sequence),
            "event": _s(dumps_strict(event)),
            BY_EVENT.partition_key: _s("EVENTS"),
            BY_EVENT.sort_key: _s(sequence),
        }
        self._call("put_item", Item=_check_size(item, f"event {kind!r} of {experiment_id!r}"))
        return event

    def events(self, experiment_id: str, limit: int = 200) -> list[dict]:
        """One experiment's newest `limit` events, oldest first."""
        check_limit(limit)
        items = self._query(limit, _experiment_pk(experiment_id), sort=("begins_with", _EVENT), newest_first=True)
        return [json.loads(item["event"]["S"]) for item in reversed(items)]

    def recent_events(self, limit: int = 50) -> list[dict]:
        """The newest events of every experiment and the campaign, newest first."""
        check_limit(limit)
        return [
            json.loads(item["event"]["S"]) for item in self._query(limit, "EVENTS", index=BY_EVENT, newest_first=True)
        ]

    def get_state(self, key: str) -> dict | None:
        """A campaign-state document, or None."""
        item = self._get(f"STATE#{key}", "STATE")
        return None if item is None else json.loads(item["value"]["S"])

    def put_state(self, key: str, value: dict) -> None:
        """Replace a campaign-state document."""
        item = {PARTITION_KEY: _s(f"STATE#{key}"), SORT_KEY: _s("STATE"), "value": _s(dumps_strict(value))}
        self._call("put_item", Item=_check_size(item, f"campaign state {key!r}"))

    def swap_state(self, key: str, expected: dict | None, value: dict) -> bool:
        """Replace a campaign-state document if it still is `expected`: a put conditional on the stored text."""
        item = {PARTITION_KEY: _s(f"STATE#{key}"), SORT_KEY: _s("STATE"), "value": _s(dumps_strict(value))}
        if expected is None:
            condition = {
                "ConditionExpression": "attribute_not_exists(#pk)",
                "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
            }
        else:  # the text get_state parsed: dumps_strict gives it back exactly
            condition = {
                "ConditionExpression": "#value = :expected",
                "ExpressionAttributeNames": {"#value": "value"},
                "ExpressionAttributeValues": {":expected": _s(dumps_strict(expected))},
            }
        try:
            self._call("put_item", Item=_check_size(item, f"campaign state {key!r}"), **condition)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True
