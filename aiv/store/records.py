"""The experiment record: its fields, statuses, and the helpers that build one.

An experiment is one candidate codec on its way through propose -> validate -> evaluate -> record.
The stores keep it as a JSON object with the fields below; the ExperimentStore ports hand it out and
take it in as the frozen dataclass `Experiment` (its "summary" as `Summaries` of `ResultSummary`),
converted here by `Experiment.from_record` and `as_record`, so the rest of the lab reads typed fields.

    id              "exp-<time>-<random>", sortable by creation time
    run_id          the campaign run that made it
    created_at, updated_at   ISO-8601 UTC
    status          one of STATUSES
    stage           the step it is in now, or the step it failed at
    parents         list of parent experiment ids (empty for a built-in seed)
    proposer        "builtin", "import" (a researcher's own module, `aiv import`), "offline", "claude", or
                    "rerun" (the same code as its parent, measured again)
    model           the model name (claude) or None
    hypothesis      the proposer's short hypothesis text
    code_sha256     sha256 of the module source (None until a proposal produced code)
    code_key        the artifact key of the source, `code/<sha256>.py` (None likewise)
    attempts        list of {"attempt", "stage", "reason", "code_sha256", "hypothesis"}: each rejected attempt
                    of this candidate (at propose, the policy, the smoke run, a duplicate check or an early
                    stop at the cascade stage, which adds "saved_points"), in order; code_sha256 and
                    hypothesis are None and "" when the attempt made no module. The model's reply of
                    attempt N, when there was one, is the artifact aiv.names.reply_key(id, N)
    failure         None, or {"stage", "reason", "clip", "quality"}
    score           headline BD-rate vs x264 on PSNR-Y over the train clips (lower is better), or None
    score_validation   the same over the validation clips, or None
    summary         {"train": summary, "validation": summary} as computed by aiv.evaluate.summarise (ResultSummary),
                    or None before the record step
    result_key      artifact key of the full evaluation record (JSON), or None
    clip_scores     {clip name: BD-rate vs x264 on PSNR-Y or None} over the train clips
    best_point      the operating point listed for it: aiv.results.mean_preview_point of the train evaluation
    cost            {"input_tokens" (prompt-cache reads and writes included), "cache_read_tokens",
                    "cache_write_tokens", "output_tokens", "llm_usd", "compute_s" (the codec's own seconds)}; on
                    AWS the GPU job adds "batch_s" (its measured wall seconds), "gpu_usd" and
                    "gpu_price_basis" (aiv/aws/prices.py; None where no price applies, as locally)
    settings        the evaluation settings used
    benchmark       the benchmark id its scores belong to (aiv/benchmark.py); absent or UNKNOWN ("unknown")
                    on a record stored before benchmarks were recorded: such scores are never mixed with others

A stored record missing a field added later reads with that field's default; a field this code no
longer writes (an older store's "rd_signature") is kept in `Experiment.extra` and written back as it was.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from typing import Any

from aiv.names import code_key

STATUSES = ("proposed", "validating", "evaluating", "succeeded", "failed", "rejected")
ACTIVE_STATUSES = ("proposed", "validating", "evaluating")
FINAL_STATUSES = ("succeeded", "failed", "rejected")
SEED_PROPOSERS = ("builtin", "import")  # where a campaign starts from: no parent, code not proposed by the search
UNKNOWN_BENCHMARK = "unknown"
SPLITS = ("train", "validation")
HEADLINE_KEYS = ("bd_rate_x264_psnr_y", "bd_rate_x265_psnr_y", "bd_rate_x264_vmaf")  # aiv.evaluate.SUMMARY_KEYS


@dataclass(frozen=True)
class ResultSummary:
    """One evaluation's headline (aiv.evaluate.summarise): mean BD-rates over the clips, or None with the
    reason in `not_comparable`; `caveats` names, per key, the clips whose BD-rate rests on few points."""

    bd_rate_x264_psnr_y: float | None = None
    bd_rate_x265_psnr_y: float | None = None
    bd_rate_x264_vmaf: float | None = None
    not_comparable: dict[str, str] = field(default_factory=dict)
    caveats: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_record(cls, record: dict) -> ResultSummary:
        """The summary a result JSON or a stored experiment holds (keys missing from an older one: None, {})."""
        return cls(**{f.name: record[f.name] for f in fields(cls) if f.name in record})

    def as_record(self) -> dict:
        """The summary as the result JSON and the store hold it."""
        return {
            "not_comparable": dict(self.not_comparable),
            "caveats": dict(self.caveats),
            **{key: getattr(self, key) for key in HEADLINE_KEYS},
        }

    def value(self, key: str) -> float | None:
        """The headline number `key` (one of HEADLINE_KEYS); ValueError for any other key."""
        if key not in HEADLINE_KEYS:
            raise ValueError(f"unknown summary key {key!r}; expected one of {', '.join(HEADLINE_KEYS)}")
        return getattr(self, key)


@dataclass(frozen=True)
class Summaries:
    """An experiment's summaries of its train and validation evaluations (None: that evaluation has none)."""

    train: ResultSummary | None = None
    validation: ResultSummary | None = None

    @classmethod
    def from_record(cls, record: dict) -> Summaries:
        """{"train": summary | None, "validation": summary | None} as stored."""
        return cls(*(ResultSummary.from_record(record[split]) if record.get(split) else None for split in SPLITS))

    @classmethod
    def from_result(cls, result: dict) -> Summaries:
        """The summaries of an evaluation outcome's "train" and "validation" records (aiv/cascade.py), None where a
        record or its summary is absent (a failed or stopped evaluation)."""
        return cls.from_record({split: (result.get(split) or {}).get("summary") for split in SPLITS})

    def as_record(self) -> dict:
        """{"train": summary | None, "validation": summary | None} as the store holds it."""
        return {
            split: None if summary is None else summary.as_record()
            for split, summary in (("train", self.train), ("validation", self.validation))
        }


@dataclass(frozen=True)
class Experiment:
    """One experiment record (the fields are described at the top of this module)."""

    id: str
    run_id: str
    created_at: str
    updated_at: str
    status: str  # one of STATUSES
    stage: str
    parents: list[str]
    proposer: str
    model: str | None = None
    hypothesis: str = ""
    code_sha256: str | None = None
    code_key: str | None = None
    attempts: list[dict] = field(default_factory=list)
    failure: dict | None = None
    score: float | None = None
    score_validation: float | None = None
    summary: Summaries | None = None
    result_key: str | None = None
    clip_scores: dict[str, float | None] | None = None
    best_point: dict | None = None
    cost: dict = field(default_factory=dict)
    settings: dict | None = None
    benchmark: str = UNKNOWN_BENCHMARK
    extra: dict[str, Any] = field(default_factory=dict)  # stored fields this code does not know, kept as they are

    @classmethod
    def from_record(cls, record: dict) -> Experiment:
        """The experiment a stored JSON object holds; ValueError naming a missing required field."""
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {name: value for name, value in record.items() if name in known}
        missing = [f.name for f in fields(cls) if f.name in _REQUIRED and f.name not in values]
        if missing:
            raise ValueError(f"experiment record {record.get('id')!r} has no {', '.join(missing)}")
        if values.get("summary") is not None:
            values["summary"] = Summaries.from_record(values["summary"])
        if values.get("benchmark") is None:
            values["benchmark"] = UNKNOWN_BENCHMARK
        return cls(**values, extra={name: value for name, value in record.items() if name not in known})

    def as_record(self) -> dict:
        """The JSON object the stores keep (the same keys and values every adapter writes)."""
        record = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        record["summary"] = None if self.summary is None else self.summary.as_record()
        return {**record, **self.extra}

    def with_fields(self, changes: dict[str, Any]) -> Experiment:
        """This experiment with `changes` ({field name: typed value}); ValueError naming an unknown field."""
        unknown = sorted(set(changes) - {f.name for f in fields(self) if f.name != "extra"})
        if unknown:
            raise ValueError(f"an experiment has no field {', '.join(map(repr, unknown))}")
        return replace(self, **changes)

    def summary_of(self, split: str) -> ResultSummary | None:
        """The summary of the `split` ("train" or "validation") evaluation, or None when there is none."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        return None if self.summary is None else getattr(self.summary, split)

    def score_of(self, split: str) -> float | None:
        """The headline score on `split` ("train": score, "validation": score_validation)."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        return self.score if split == "train" else self.score_validation


_REQUIRED = ("id", "run_id", "created_at", "updated_at", "status", "stage", "parents", "proposer")


def now_iso() -> str:
    """The current UTC time as ISO-8601 with microseconds (sortable as text)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def new_experiment_id() -> str:
    """A unique id that sorts by creation time."""
    return f"exp-{time.time_ns() // 1000:016x}-{os.urandom(3).hex()}"


def new_experiment(
    run_id: str,
    proposer: str,
    parents: list[str],
    hypothesis: str,
    code_sha256: str | None,
    model: str | None = None,
    experiment_id: str | None = None,
    *,
    benchmark: str,
) -> Experiment:
    """A fresh experiment in status "proposed", on `benchmark` (the id its scores will belong to)."""
    stamp = now_iso()
    return Experiment(
        id=experiment_id or new_experiment_id(),
        run_id=run_id,
        created_at=stamp,
        updated_at=stamp,
        status="proposed",
        stage="propose",
        parents=list(parents),
        proposer=proposer,
        model=model,
        hypothesis=hypothesis,
        code_sha256=code_sha256,
        code_key=code_key(code_sha256) if code_sha256 else None,
        cost={
            "input_tokens": 0,
            "cache_read_tokens": 0,
            "cache_write_tokens": 0,
            "output_tokens": 0,
            "llm_usd": 0.0,
            "compute_s": 0.0,
        },
        benchmark=benchmark,
    )
