"""The fingerprints behind the duplicate rules: what counts as the same program, and what is a change."""

from aiv.codec.fingerprint import bitstreams_sha256, normalised_sha256

MODULE = '''\
"""A codec."""
import zlib

PARAMS = {"key_interval": 30}


def encode(y, u, v, fps, quality):
    """Compress."""
    return zlib.compress(y.tobytes())  # the luma only
'''


def test_comments_docstrings_and_formatting_do_not_change_the_normalised_code():
    reworded = (
        MODULE.replace('"""A codec."""', '"""Another description."""')
        .replace("# the luma only", "# Y")
        .replace('"""Compress."""', "'''Squeeze.'''")
        .replace("PARAMS = {", "\n\nPARAMS  =  {")
    )
    assert normalised_sha256(reworded) == normalised_sha256(MODULE)
    assert normalised_sha256(MODULE.replace('    """Compress."""\n', "")) == normalised_sha256(MODULE)


def test_a_genuine_change_changes_the_normalised_code():
    for changed in (
        MODULE.replace('"key_interval": 30', '"key_interval": 60'),
        MODULE.replace("y.tobytes()", "u.tobytes()"),
        MODULE.replace("zlib.compress(", "zlib.compress(level=9, data="),
    ):
        assert normalised_sha256(changed) != normalised_sha256(MODULE)
    assert normalised_sha256(MODULE + 'NOTE = "a string that is data, not a docstring"\n') != normalised_sha256(MODULE)


def test_code_that_does_not_parse_has_no_normalised_form():
    assert normalised_sha256("def broken(:\n") is None


def record(*hashes, clip="frames-1"):
    return {
        "clips": [
            {"sha256": clip, "points": [{"quality": q / 10, "bitstream_sha256": h} for q, h in enumerate(hashes)]}
        ]
    }


def test_bitstream_fingerprints_follow_every_point_in_order():
    assert bitstreams_sha256(record("a", "b")) == bitstreams_sha256(record("a", "b"))
    assert bitstreams_sha256(record("a", "b")) != bitstreams_sha256(record("b", "a"))
    assert bitstreams_sha256(record("a", "b")) != bitstreams_sha256(record("a", "b", clip="frames-2"))
    assert bitstreams_sha256(record("a", None)) is None and bitstreams_sha256({"clips": []}) is None
