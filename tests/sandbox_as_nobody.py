"""Runs the sandbox's key containment checks as whatever user starts it; prints the outcomes as JSON.

tests/test_sandbox_unprivileged.py starts it as an unprivileged user (uid 65534), so the sandbox
takes its non-root path (bubblewrap). Arguments: readable files that no codec may see.
"""

from __future__ import annotations

import json
import os
import sys

from hostile_codecs import codec, embedded_codec

from aiv.codec.policy import MAX_SOURCE_BYTES
from aiv.codec.sandbox import Limits, isolation_report, run_decode, run_encode
from aiv.errors import CodecFailure
from aiv.video.corpus import builtin_clip

LIMITS = Limits(timeout_s=120)


def outcome(source: str, planes) -> dict:
    """How encoding then decoding with `source` ended: the failure, or whether the planes came back exactly."""
    try:
        encoded = run_encode(source, *planes, 30.0, 0.5, LIMITS)
        decoded = run_decode(source, encoded.bitstream, LIMITS)
    except CodecFailure as failure:
        return {"stage": failure.stage, "reason": failure.reason}
    exact = all(bool((got == want).all()) for got, want in zip((decoded.y, decoded.u, decoded.v), planes))
    return {"bytes": len(encoded.bitstream), "exact": exact}


def main(secrets: list[str]) -> None:
    report = isolation_report()
    checks = {"euid": os.geteuid(), "isolation": report}
    if report["full_view"]:
        clip = builtin_clip("noisy_static", frames=2)
        noisy_static = (clip.y, clip.u, clip.v)
        small = (clip.y[:, :16, :16], clip.u[:, :8, :8], clip.v[:, :8, :8])
        checks["rebuild_corpus"] = outcome(codec("rebuild_corpus"), noisy_static)
        checks["read_passwd"] = outcome(codec("read_passwd"), small)
        for path in secrets:
            checks[path] = outcome(codec("native_read").replace("SECRET_PATH", path), small)
        checks["embedded_data"] = outcome(embedded_codec(MAX_SOURCE_BYTES), small)
    print(json.dumps(checks))


if __name__ == "__main__":
    main(sys.argv[1:])
