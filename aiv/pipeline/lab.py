"""The `Lab`: what every pipeline step works with (stores, campaign settings, proposers, clips)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from aiv.benchmark import PENDING, Benchmark, current_benchmark, define_benchmark
from aiv.search.proposer import Proposer
from aiv.settings import SMOKE_FRAMES, SMOKE_SIZE, CampaignSettings
from aiv.store.ports import ArtifactStore, ExperimentStore

if TYPE_CHECKING:
    from aiv.evaluate import EvalSettings
    from aiv.video.clip import Clip


def load_campaign_clip(spec: str, frames: int, secret: bytes) -> Clip:
    """A campaign clip: a built-in corpus name (rendered from the corpus `secret`), or a clip file path."""
    from aiv.video.corpus import CORPUS_NAMES, builtin_clip
    from aiv.video.readers import read_clip

    if spec in CORPUS_NAMES:
        return builtin_clip(spec, frames=frames, secret=secret)
    return read_clip(spec, frames=frames)


@dataclass
class Lab:
    """What the steps work with: the stores, the campaign settings and a proposer factory."""

    experiments: ExperimentStore
    artifacts: ArtifactStore
    settings: CampaignSettings
    make_proposer: Callable[[str], Proposer]
    cache_dir: Path | None = None
    clip_loader: Callable[[str, int], Clip] | None = None  # (spec, frames) -> Clip; default load_campaign_clip
    # Where clips cannot be loaded (a Lambda), the benchmark is the store's current one, not computed here.
    benchmark_from_store: bool = False
    device: str = "cpu"  # where candidates run and SSIM is computed: "cpu", or "cuda" on a GPU job

    @cached_property
    def benchmark(self) -> Benchmark:
        """The benchmark of these settings on these clips (their hashes: every clip is loaded once)."""
        return define_benchmark(
            self.settings.as_record(),
            [clip.sha256 for clip in self.train_clips],
            [clip.sha256 for clip in self.validation_clips],
        )

    @property
    def benchmark_id(self) -> str:
        """The benchmark new experiments are created on and compared within. With benchmark_from_store, the
        store's current one, or PENDING before any evaluation recorded one (the record step sets it)."""
        if self.benchmark_from_store:
            return current_benchmark(self.experiments) or PENDING
        return self.benchmark.id

    @cached_property
    def corpus_secret(self) -> bytes:
        """The store's built-in corpus secret (created on first use), so one store always sees the same clips."""
        from aiv.video.corpus_secret import store_secret

        return store_secret(self.experiments)

    def load_clip(self, spec: str) -> Clip:
        """The campaign clip `spec`, `settings.frames` long."""
        if self.clip_loader is not None:
            return self.clip_loader(spec, self.settings.frames)
        return load_campaign_clip(spec, self.settings.frames, self.corpus_secret)

    @cached_property
    def train_clips(self) -> list[Clip]:
        return [self.load_clip(spec) for spec in self.settings.train_clips]

    @cached_property
    def validation_clips(self) -> list[Clip]:
        return [self.load_clip(spec) for spec in self.settings.validation_clips]

    @cached_property
    def smoke_clip(self) -> Clip:
        from aiv.video.corpus import builtin_clip

        clip = builtin_clip("moving_object", frames=SMOKE_FRAMES, secret=self.corpus_secret)
        return clip.crop(*SMOKE_SIZE, name="smoke")

    def eval_settings(self, anchors: tuple[str, ...] | None = None, vmaf: bool | None = None) -> EvalSettings:
        """The evaluator's settings for this campaign."""
        from aiv.codec.sandbox import Limits
        from aiv.evaluate import EvalSettings

        s = self.settings
        return EvalSettings(
            qualities=s.qualities,
            limits=Limits(timeout_s=s.timeout_s, memory_mb=s.memory_mb),
            vmaf=s.vmaf if vmaf is None else vmaf,
            anchors=s.anchors if anchors is None else anchors,
            anchor_crfs=s.anchor_crfs,
            anchor_preset=s.anchor_preset,
            cache_dir=self.cache_dir,
            device=self.device,
        )
