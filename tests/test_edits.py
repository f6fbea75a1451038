"""SEARCH/REPLACE edits: parsed in order, applied strictly, and every failure named precisely."""

import pytest

from aiv.search.edits import Edit, EditError, apply_edits, parse_edits

SOURCE = """\
import numpy as np


def step(quality):
    return 8


def encode(y, u, v, fps, quality):
    q = step(quality)
    return bytes([q])
"""


def block(search: str, replace: str) -> str:
    return f"<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


def test_parse_reads_blocks_in_order_and_ignores_the_prose_around_them():
    text = (
        "I will change the step.\n```python\n"
        + block("    return 8\n", "    return 4\n")
        + "```\n"
        + "and the encoder:\n"
        + block("    q = step(quality)\n", "    q = step(quality) + 1\n    q *= 2\n")
    )
    assert parse_edits(text) == [
        Edit("    return 8\n", "    return 4\n"),
        Edit("    q = step(quality)\n", "    q = step(quality) + 1\n    q *= 2\n"),
    ]


def test_parse_keeps_an_empty_replace_as_a_deletion():
    assert parse_edits(block("import numpy as np\n", "")) == [Edit("import numpy as np\n", "")]


def test_parse_of_text_without_blocks_is_empty():
    assert parse_edits("no edits here\n=======\n") == []


@pytest.mark.parametrize(
    "text, words",
    [
        ("<<<<<<< SEARCH\n    return 8\n", "block 1 is not closed: '=======' is missing"),
        (
            "<<<<<<< SEARCH\n    return 8\n=======\n    return 4\n",
            "block 1 is not closed: '>>>>>>> REPLACE' is missing",
        ),
        (block("a\n", "b\n") + ">>>>>>> REPLACE\n", "block 2: '>>>>>>> REPLACE' without a '<<<<<<< SEARCH'"),
        ("<<<<<<< SEARCH\na\n<<<<<<< SEARCH\n", "block 1: '<<<<<<< SEARCH' inside the SEARCH section"),
        ("<<<<<<< SEARCH\na\n=======\nb\n=======\n", "block 1: '=======' inside the REPLACE section"),
    ],
)
def test_malformed_blocks_are_errors_naming_the_block(text, words):
    with pytest.raises(EditError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_edits(text)


def test_apply_replaces_each_match_in_order_each_on_the_previous_result():
    edits = [
        Edit("    return 8\n", "    return 4\n"),
        Edit("    return 4\n", "    return 2 + int(quality > 0.5)\n"),
    ]  # matches only after the first edit
    result = apply_edits(SOURCE, edits)
    assert "    return 2 + int(quality > 0.5)\n" in result
    assert "return 8" not in result and "return 4" not in result
    assert result.replace("    return 2 + int(quality > 0.5)\n", "    return 8\n") == SOURCE


def test_apply_keeps_a_missing_final_newline_missing():
    assert apply_edits("a = 1\nb = 2", [Edit("b = 2\n", "b = 3\n")]) == "a = 1\nb = 3"


def test_no_match_names_the_block_number_and_its_first_line():
    edits = [Edit("    return 8\n", "    return 4\n"), Edit("def decode(bitstream):\n    pass\n", "")]
    with pytest.raises(EditError) as caught:
        apply_edits(SOURCE, edits)
    message = str(caught.value)
    assert message.startswith("block 2 (SEARCH starting 'def decode(bitstream):') does not match")
    assert "whitespace" not in message


def test_several_matches_are_an_error_with_their_lines():
    source = "x = 1\ny = 2\nx = 1\n"
    with pytest.raises(EditError, match=r"block 1 \(SEARCH starting 'x = 1'\) matches 2 places .*lines 1, 3"):
        apply_edits(source, [Edit("x = 1\n", "x = 5\n")])


def test_a_match_inside_a_longer_line_does_not_count():
    with pytest.raises(EditError, match="does not match"):
        apply_edits("maxq = 1\n", [Edit("q = 1\n", "q = 2\n")])


def test_a_whitespace_only_difference_is_pointed_out():
    with pytest.raises(EditError, match=r"would if whitespace were ignored \(at lines 4\)"):
        apply_edits(SOURCE, [Edit("def step(quality):\n  return 8\n", "def step(quality):\n  return 4\n")])


def test_an_empty_search_is_an_error():
    with pytest.raises(EditError, match="block 1: the SEARCH section is empty"):
        apply_edits(SOURCE, [Edit("", "import math\n")])


def test_an_edit_that_changes_nothing_is_an_error():
    with pytest.raises(
        EditError, match=r"block 1 \(SEARCH starting '    return 8'\): SEARCH and REPLACE are identical"
    ):
        apply_edits(SOURCE, [Edit("    return 8\n", "    return 8\n")])
