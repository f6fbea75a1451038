"""The example in docs/codec-contract.md honours the contract when run through the real sandbox."""

import numpy as np

from aiv.codec.contract import check_decoded
from aiv.codec.sandbox import run_decode, run_encode


def test_doc_example_round_trips_in_the_sandbox(tiny_codec_source):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 256, (3, 16, 24), dtype=np.uint8)
    u = rng.integers(0, 256, (3, 8, 12), dtype=np.uint8)
    v = rng.integers(0, 256, (3, 8, 12), dtype=np.uint8)
    low = run_encode(tiny_codec_source, y, u, v, 30.0, 0.1)
    high = run_encode(tiny_codec_source, y, u, v, 30.0, 1.0)
    assert len(low.bitstream) < len(high.bitstream)
    decoded = run_decode(tiny_codec_source, high.bitstream)
    check_decoded((y, u, v), (decoded.y, decoded.u, decoded.v))
    np.testing.assert_array_equal(decoded.y, y)  # step 1 at quality 1.0: lossless
