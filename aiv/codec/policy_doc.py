"""The static policy's lists in docs/codec-contract.md, generated from policy.py so the two cannot drift.

`python -m aiv.codec.policy_doc` rewrites the section between the markers; a test fails when the
doc differs from what `section()` renders.
"""

from __future__ import annotations

import sys
from pathlib import Path

from aiv.codec.policy import (
    ALLOWED_IMPORTS,
    FORBIDDEN_ATTRIBUTES,
    FORBIDDEN_NAMES,
    MAX_SOURCE_BYTES,
    REQUIRED_FUNCTIONS,
)

BEGIN = "<!-- policy: generated from aiv/codec/policy.py by `python -m aiv.codec.policy_doc`; do not edit -->"
END = "<!-- policy: end -->"
CONTRACT_DOC = Path(__file__).resolve().parents[2] / "docs" / "codec-contract.md"


def section() -> str:
    """The policy section's text, markers included."""

    def names(values: frozenset[str]) -> str:
        return ", ".join(f"`{v}`" for v in sorted(values, key=str.lower))

    functions = ", ".join(
        f"`{name}` ({arity} positional argument{'s' if arity > 1 else ''})"
        for name, arity in REQUIRED_FUNCTIONS.items()
    )
    return "\n".join(
        (
            BEGIN,
            f"- Allowed imports (and their submodules): {names(ALLOWED_IMPORTS - {'__future__'})}, `__future__`.",
            f"- Forbidden names: {names(FORBIDDEN_NAMES)}.",
            f"- Forbidden attributes (`x.name` on anything, and in an import path): {names(FORBIDDEN_ATTRIBUTES)}.",
            f"- Top-level functions: {functions}.",
            f"- Size: at most {MAX_SOURCE_BYTES} bytes of source (UTF-8).",
            END,
        )
    )


def updated(text: str) -> str:
    """`text` with its policy section replaced by `section()`; ValueError if the markers are missing."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the policy markers are missing: {BEGIN!r} ... {END!r}")
    return text[:start] + section() + text[end + len(END) :]


def main(path: Path = CONTRACT_DOC) -> int:
    """Rewrite the policy section of `path`; exit status 2 with a message if its markers are missing."""
    try:
        path.write_text(updated(path.read_text()))
    except (OSError, ValueError) as exc:
        print(f"policy_doc: {path}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
