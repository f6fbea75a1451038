"""Runs the sandbox's key containment checks as whatever user starts it; prints the outcomes as JSON.

tests/test_sandbox_unprivileged.py starts it as an unprivileged user (uid 65534), so the sandbox
takes its non-root path (bubblewrap). Arguments: readable files that no codec may see.
"""

from __future__ import annotations

import json
import os
import sys

from hostile_codecs import codec, embedded_codec, replayed_noisy_static

from aiv.codec.policy import MAX_SOURCE_BYTES
from aiv.codec.sandbox import Limits, isolation_report, run_decode, run_encode
from aiv.errors import CodecFailure

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
        noisy_static = replayed_noisy_static(2)
        y, u, v = noisy_static
        small = (y[:, :16, :16], u[:, :8, :8], v[:, :8, :8])
        checks["rebuild_corpus"] = outcome(codec("rebuild_corpus"), noisy_static)
        checks["read_passwd"] = outcome(codec("read_passwd"), small)
        for path in secrets:
            checks[path] = outcome(codec("native_read").replace("SECRET_PATH", path), small)
        checks["embedded_data"] = outcome(embedded_codec(MAX_SOURCE_BYTES), small)
    print(json.dumps(checks))


if __name__ == "__main__":
    main(sys.argv[1:])
