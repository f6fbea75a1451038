"""Checks and encodings every ExperimentStore adapter shares, so SQLite and DynamoDB agree exactly."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aiv.store.records import STATUSES

SPLIT_FIELDS = {"train": "score", "validation": "score_validation"}


def dumps_strict(value: object) -> str:
    """Strict JSON: ValueError on NaN or infinity, which no record may hold."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def encode_cursor(position: str | float, experiment_id: str) -> str:
    """The cursor after the row at (`position`, id): created_at for listings, the score for rankings."""
    return base64.urlsafe_b64encode(dumps_strict([position, experiment_id]).encode()).decode()


def decode_cursor(cursor: str, position_types: tuple[type, ...] = (str,)) -> tuple[Any, str]:
    try:
        position, experiment_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"invalid page cursor {cursor!r}: {exc}") from None
    if not isinstance(position, position_types) or isinstance(position, bool) or not isinstance(experiment_id, str):
        raise ValueError(f"invalid page cursor {cursor!r}: not a (position, id) pair of this listing")
    return position, experiment_id


def check_status(status: object) -> None:
    if status not in STATUSES:
        raise ValueError(f"unknown experiment status {status!r}; expected one of {', '.join(STATUSES)}")


def check_record(record: dict) -> None:
    """ValueError naming the first field that the store's indexes cannot hold."""
    for field in ("id", "created_at", "status"):
        if not isinstance(record.get(field), str):
            raise ValueError(f"experiment record needs a string {field!r}, got {record.get(field)!r}")
    check_status(record["status"])
    for field in ("score", "score_validation"):
        value = record.get(field)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError(f"experiment {field!r} must be a number or None, got {value!r}")
    for field in ("code_sha256", "run_id"):
        if not isinstance(record.get(field), (str, type(None))):
            raise ValueError(f"experiment {field!r} must be a string or None, got {record.get(field)!r}")
    if not isinstance(record.get("benchmark"), str):
        raise ValueError(f"experiment 'benchmark' must be a string, got {record.get('benchmark')!r}")
    parents = record.get("parents")
    if parents is not None and not (isinstance(parents, list) and all(isinstance(p, str) for p in parents)):
        raise ValueError(f"experiment 'parents' must be a list of ids, got {parents!r}")


def split_field(split: str) -> str:
    """The score field of a split ("train" or "validation"); ValueError for any other."""
    if split not in SPLIT_FIELDS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLIT_FIELDS)}")
    return SPLIT_FIELDS[split]


def check_limit(limit: int) -> None:
    if not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
