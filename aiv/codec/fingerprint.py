"""Fingerprints that tell a re-proposed program from a genuine change, for the duplicate rules.

- `normalised_sha256`: the module's syntax tree without docstrings (comments, blank lines and
  formatting never reach the tree), so reformatting or rewording a comment is not a change.
- `bitstreams_sha256`: every bitstream a codec wrote on one evaluation, in order, so two modules
  that differ in code but encode the same frames to the same bytes are the same codec.
"""

from __future__ import annotations

import ast
import hashlib


def normalised_sha256(source: str) -> str | None:
    """sha256 of `source`'s syntax tree without docstrings; None if it does not parse."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree, annotate_fields=False).encode()).hexdigest()


def bitstreams_sha256(record: dict) -> str | None:
    """sha256 over every point of an evaluation record (clip by clip, in order): the clip's frames, the
    quality and the bitstream's hash; None unless every point has a bitstream hash."""
    lines = [
        (clip.get("sha256"), point.get("quality"), point.get("bitstream_sha256"))
        for clip in record.get("clips", [])
        for point in clip.get("points", [])
    ]
    if not lines or any(line[2] is None for line in lines):
        return None
    return hashlib.sha256("\n".join(f"{sha}:{quality}:{bits}" for sha, quality, bits in lines).encode()).hexdigest()
