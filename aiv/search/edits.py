"""SEARCH/REPLACE edits (the aider format) on a program's source: parse them, apply them strictly.

    <<<<<<< SEARCH
    lines copied exactly from the current text
    =======
    the lines that replace them
    >>>>>>> REPLACE

Blocks apply in order, each to the text the blocks before it left. A SEARCH must match exactly one
place, on whole lines; anything else is an EditError that says which block failed and why, so the
failure can go back to whoever wrote the edit.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiv.errors import AivError

SEARCH_MARK = "<<<<<<< SEARCH"
DIVIDER = "======="
REPLACE_MARK = ">>>>>>> REPLACE"


class EditError(AivError):
    """A SEARCH/REPLACE block is malformed or does not match the text exactly once."""


@dataclass(frozen=True)
class Edit:
    """One block: `search` and `replace` are whole lines, each ending in a newline (or empty)."""

    search: str
    replace: str

    @property
    def first_line(self) -> str:
        """The SEARCH text's first line, to name the block in an error."""
        return self.search.split("\n", 1)[0]


def parse_edits(text: str) -> list[Edit]:
    """Every SEARCH/REPLACE block in `text`, in order; text outside the blocks is ignored."""
    edits: list[Edit] = []
    section: str | None = None  # None outside a block, else "search" or "replace"
    search: list[str] = []
    replace: list[str] = []
    for line in text.splitlines(keepends=True):
        mark = line.strip()
        if section is None:
            if mark == SEARCH_MARK:
                section, search, replace = "search", [], []
            elif mark == REPLACE_MARK:
                raise EditError(f"block {len(edits) + 1}: '{REPLACE_MARK}' without a '{SEARCH_MARK}' before it")
        elif section == "search":
            if mark == DIVIDER:
                section = "replace"
            elif mark in (SEARCH_MARK, REPLACE_MARK):
                raise EditError(
                    f"block {len(edits) + 1}: '{mark}' inside the SEARCH section; "
                    f"each block needs '{SEARCH_MARK}', '{DIVIDER}', '{REPLACE_MARK}' in that order"
                )
            else:
                search.append(_with_newline(line))
        else:
            if mark == REPLACE_MARK:
                edits.append(Edit("".join(search), "".join(replace)))
                section = None
            elif mark in (SEARCH_MARK, DIVIDER):
                raise EditError(
                    f"block {len(edits) + 1}: '{mark}' inside the REPLACE section; "
                    f"close the block with '{REPLACE_MARK}' first"
                )
            else:
                replace.append(_with_newline(line))
    if section is not None:
        missing = DIVIDER if section == "search" else REPLACE_MARK
        raise EditError(f"block {len(edits) + 1} is not closed: '{missing}' is missing")
    return edits


def apply_edits(source: str, blocks: list[Edit]) -> str:
    """`source` with every block applied in order; EditError names the first block that fails."""
    ends_with_newline = source.endswith("\n") or not source
    text = source if ends_with_newline else source + "\n"
    for number, edit in enumerate(blocks, start=1):
        if not edit.search.strip():
            raise EditError(
                f"block {number}: the SEARCH section is empty; copy the existing lines the "
                "change goes at (or after) into it"
            )
        if edit.search == edit.replace:
            raise EditError(
                f"block {number} (SEARCH starting {edit.first_line!r}): SEARCH and REPLACE are "
                "identical, so it changes nothing; put the changed lines in REPLACE"
            )
        starts = _line_matches(text, edit.search)
        if len(starts) != 1:
            raise EditError(_mismatch_reason(number, edit, text, starts))
        at = starts[0]
        text = text[:at] + edit.replace + text[at + len(edit.search) :]
    return text if ends_with_newline else text.removesuffix("\n")


def has_marker_line(text: str) -> bool:
    """Whether `text` has a line that is a SEARCH/REPLACE marker (so it holds edits, not a module)."""
    return any(line.strip() in (SEARCH_MARK, REPLACE_MARK) for line in text.splitlines())


def _with_newline(line: str) -> str:
    return line if line.endswith("\n") else line + "\n"


def _line_matches(text: str, search: str) -> list[int]:
    """Offsets where `search` occurs in `text` starting at the beginning of a line."""
    starts, at = [], text.find(search)
    while at >= 0:
        if at == 0 or text[at - 1] == "\n":
            starts.append(at)
        at = text.find(search, at + 1)
    return starts


def _mismatch_reason(number: int, edit: Edit, text: str, starts: list[int]) -> str:
    name = f"block {number} (SEARCH starting {edit.first_line!r})"
    if starts:
        lines = ", ".join(str(text.count("\n", 0, at) + 1) for at in starts)
        return (
            f"{name} matches {len(starts)} places in the current text (at lines {lines}); "
            "include more surrounding lines so that it matches exactly one"
        )
    loose = _loose_matches(text, edit.search)
    if loose:
        lines = ", ".join(str(line) for line in loose)
        return (
            f"{name} does not match the current text exactly, but would if whitespace were ignored "
            f"(at lines {lines}); copy the lines exactly, indentation and spacing included"
        )
    return f"{name} does not match the current text; SEARCH must copy existing lines exactly"


def _loose_matches(text: str, search: str) -> list[int]:
    """1-based line numbers where `search` matches `text` line by line if whitespace is ignored."""

    def squash(line: str) -> str:
        return "".join(line.split())

    want = [squash(line) for line in search.splitlines()]
    have = [squash(line) for line in text.splitlines()]
    return [i + 1 for i in range(len(have) - len(want) + 1) if have[i : i + len(want)] == want]
