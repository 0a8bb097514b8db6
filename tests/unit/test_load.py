import time
from pathlib import Path

import pytest

from topology.load import MAX_FILE_BYTES, load_tenants

EXAMPLES = Path(__file__).parents[2] / "examples" / "tenants"

VALID = """\
name: acme
owners:
  team: acme-web
  slack_channel: "#acme-logs"
  webhook_secret: ACME_WEBHOOK
"""


def write(tmp_path: Path, text: str | bytes, name: str = "tenant.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_the_shipped_examples_are_valid() -> None:
    result = load_tenants([EXAMPLES])
    assert result.errors == []
    assert len(result.tenants) >= 3


def test_a_valid_tenant_gets_defaults(tmp_path: Path) -> None:
    result = load_tenants([write(tmp_path, VALID)])
    assert result.ok
    tenant = result.tenants[0].tenant
    assert tenant.name == "acme"
    assert tenant.topics.partitions == 3


def test_unknown_field_is_reported_with_file_line_and_path(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "topics:\n  partitions: 2\n  retension_hours: 5\n")
    result = load_tenants([path])
    assert [str(e) for e in result.errors] == [
        f"{path}:8:20: acme.topics.retension_hours: unknown field; "
        "check its spelling against `logway schema`"
    ]


def test_wrong_type_and_bounds_are_errors(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "topics:\n  partitions: lots\n  retention_hours: 100000\n")
    errors = load_tenants([path]).errors
    assert {(e.path, e.line) for e in errors} == {
        ("acme.topics.partitions", 7),
        ("acme.topics.retention_hours", 8),
    }


def test_a_bad_tenant_name_is_refused(tmp_path: Path) -> None:
    errors = load_tenants([write(tmp_path, VALID.replace("name: acme", "name: Acme_Corp"))]).errors
    assert len(errors) == 1
    assert errors[0].path == "Acme_Corp.name"
    assert errors[0].line == 1


def test_a_webhook_url_inline_is_refused(tmp_path: Path) -> None:
    text = VALID.replace("ACME_WEBHOOK", "https://hooks.example/services/T000/B000")
    errors = load_tenants([write(tmp_path, text)]).errors
    assert len(errors) == 1
    assert "put the URL in a secret" in errors[0].message


def test_duplicate_tenant_names_across_files(tmp_path: Path) -> None:
    write(tmp_path, VALID, "a.yaml")
    write(tmp_path, VALID, "b.yaml")
    result = load_tenants([tmp_path])
    assert len(result.errors) == 1
    assert "already declared at" in result.errors[0].message


def test_several_documents_per_file(tmp_path: Path) -> None:
    text = VALID + "---\n" + VALID.replace("name: acme", "name: beta")
    assert [t.tenant.name for t in load_tenants([write(tmp_path, text)]).tenants] == [
        "acme",
        "beta",
    ]


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    errors = load_tenants([write(tmp_path, "name: acme\nowners: [unclosed\n")]).errors
    assert len(errors) == 1
    assert errors[0].message.startswith("YAML syntax")
    assert errors[0].line >= 2


def test_a_yaml_bomb_is_refused_fast(tmp_path: Path) -> None:
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for level in range(1, 10):
        prev = chr(ord("a") + level - 1)
        name = chr(ord("a") + level)
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]")
    started = time.monotonic()
    errors = load_tenants([write(tmp_path, "\n".join(lines) + "\n")]).errors
    assert time.monotonic() - started < 2
    assert len(errors) == 1
    assert "YAML bomb" in errors[0].message


def test_a_huge_file_is_refused_without_parsing(tmp_path: Path) -> None:
    path = write(tmp_path, b"# " + b"x" * MAX_FILE_BYTES)
    errors = load_tenants([path]).errors
    assert len(errors) == 1
    assert "over the" in errors[0].message


def test_binary_garbage_is_refused(tmp_path: Path) -> None:
    errors = load_tenants([write(tmp_path, bytes(range(256)) * 4)]).errors
    assert len(errors) == 1
    assert "not UTF-8" in errors[0].message


@pytest.mark.parametrize("document", ["just a string\n", "- a\n- list\n", "42\n"])
def test_a_document_that_is_not_a_mapping(tmp_path: Path, document: str) -> None:
    errors = load_tenants([write(tmp_path, document)]).errors
    assert len(errors) == 1
    assert "a tenant document is a mapping" in errors[0].message


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    errors = load_tenants([write(tmp_path, "a: " + "[" * 100 + "]" * 100 + "\n")]).errors
    assert len(errors) == 1
    assert "nested deeper" in errors[0].message
