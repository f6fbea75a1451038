"""The cascade's early stop: a candidate clearly worse than its parent on the first stage's frames
is not evaluated in full.

Both evaluation records of the cascade stage cover the same frames (the clip's sha256 hashes
exactly the frames measured) at the same qualities; the candidate's BD-rate on PSNR-Y against its
parent's points, above the threshold, ends it. When the two records are not comparable (other
frames, other qualities, a curve BD-rate cannot use) nothing is stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiv.metrics.bdrate import bd_rate


@dataclass(frozen=True)
class EarlyStop:
    """Why a candidate stops after the cascade stage: its BD-rate against the parent there."""

    bd_rate: float
    parent_id: str
    clip: str
    frames: int

    @property
    def reason(self) -> str:
        return (
            f"stopped early: {self.bd_rate:+.2f}% BD-rate (PSNR-Y) against the parent {self.parent_id} on "
            f"the first {self.frames} frames of {self.clip}"
        )


def early_stop(candidate: dict, parent: dict | None, parent_id: str, threshold: float) -> EarlyStop | None:
    """An EarlyStop when the cascade record `candidate` is more than `threshold` percent BD-rate worse
    than the parent's cascade record `parent` on the same frames and qualities, else None."""
    if parent is None or parent.get("status") != "ok" or candidate.get("status") != "ok":
        return None
    ours, theirs = candidate["clips"], parent["clips"]
    if len(ours) != 1 or len(theirs) != 1 or ours[0]["sha256"] != theirs[0]["sha256"]:
        return None
    if [p["quality"] for p in ours[0]["points"]] != [p["quality"] for p in theirs[0]["points"]]:
        return None
    result = bd_rate(
        [(p["kbps"], p["psnr_y"]) for p in theirs[0]["points"]], [(p["kbps"], p["psnr_y"]) for p in ours[0]["points"]]
    )
    if result.value is None or result.value <= threshold:
        return None
    return EarlyStop(result.value, parent_id, ours[0]["name"], ours[0]["frames"])
