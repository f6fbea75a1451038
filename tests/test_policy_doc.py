"""docs/codec-contract.md lists exactly the static policy of aiv/codec/policy.py."""

from pathlib import Path

import pytest

from aiv.codec import policy_doc


def test_the_contract_doc_lists_the_policy_of_policy_py() -> None:
    text = policy_doc.CONTRACT_DOC.read_text()
    assert policy_doc.section() in text, (
        "docs/codec-contract.md drifted from policy.py: run python -m aiv.codec.policy_doc"
    )
    assert policy_doc.updated(text) == text


def test_the_section_names_every_forbidden_name_and_allowed_import() -> None:
    text = policy_doc.section()
    for name in [*policy_doc.FORBIDDEN_NAMES, *policy_doc.FORBIDDEN_ATTRIBUTES, *policy_doc.ALLOWED_IMPORTS]:
        assert f"`{name}`" in text, name


def test_a_doc_without_markers_is_refused_and_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    doc = tmp_path / "contract.md"
    doc.write_text("# no markers here\n")
    assert policy_doc.main(doc) == 2
    assert "the policy markers are missing" in capsys.readouterr().err
    assert doc.read_text() == "# no markers here\n"


def test_the_section_is_rewritten_between_the_markers(tmp_path: Path) -> None:
    doc = tmp_path / "contract.md"
    doc.write_text(f"before\n{policy_doc.BEGIN}\nstale list\n{policy_doc.END}\nafter\n")
    assert policy_doc.main(doc) == 0
    assert doc.read_text() == f"before\n{policy_doc.section()}\nafter\n"
