"""The invalid-tenant corpus: every document in tests/corpus/invalid gives exactly its errors.

Each file starts with one `# expect: <field path> | <part of the message>` line per error it must
produce (an empty path for errors about the whole document). File and line are checked too.
"""

from pathlib import Path

import pytest

from topology.load import load_tenants

CORPUS = Path(__file__).parents[2] / "corpus" / "invalid"
CASES = sorted(CORPUS.glob("*.yaml"))


def expectations(case: Path) -> list[tuple[str, str]]:
    found = []
    for line in case.read_text().splitlines():
        if line.startswith("# expect: "):
            path, _, message = line.removeprefix("# expect: ").partition(" | ")
            found.append((path.strip(), message.strip()))
    return found


def test_the_corpus_is_large_enough_and_every_case_says_what_it_expects() -> None:
    assert len(CASES) >= 40
    assert all(expectations(case) for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.stem)
def test_an_invalid_document_gives_exactly_its_errors(case: Path) -> None:
    result = load_tenants([case])
    expected = expectations(case)
    assert len(result.errors) == len(expected), [str(e) for e in result.errors]
    for (path, message), error in zip(expected, result.errors, strict=True):
        assert error.file == str(case)
        assert error.line >= 1, str(error)
        assert error.path == path, str(error)
        assert message in error.message, str(error)
