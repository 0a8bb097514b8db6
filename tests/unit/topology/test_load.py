import time
from pathlib import Path

import pytest

from topology.load import MAX_FILE_BYTES, load_tenants

EXAMPLES = Path(__file__).parents[3] / "examples" / "tenants"

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


def with_sources(name: str, *, namespaces: list[str] = (), producers: list[str] = ()) -> str:  # type: ignore[assignment]
    text = VALID.replace("name: acme", f"name: {name}") + "sources:\n"
    text += "  namespaces: [" + ", ".join(namespaces) + "]\n"
    text += "  producers: [" + ", ".join(f'"{p}"' for p in producers) + "]\n"
    return text


def test_a_namespace_claimed_twice_rejects_the_second_tenant_only(tmp_path: Path) -> None:
    write(tmp_path, with_sources("first", namespaces=["shop", "shop-canary"]), "a.yaml")
    second = write(tmp_path, with_sources("second", namespaces=["web", "shop-canary"]), "b.yaml")
    result = load_tenants([tmp_path])
    assert [t.tenant.name for t in result.tenants] == ["first"]
    assert result.rejected == ["second"]
    [error] = result.errors
    assert error.file == str(second)
    assert error.line == 7  # the line of the namespace list in b.yaml
    assert error.path == "second.sources.namespaces.1"
    assert "namespace 'shop-canary' is already claimed by tenant 'first'" in error.message


def test_a_producer_principal_claimed_twice(tmp_path: Path) -> None:
    write(tmp_path, with_sources("first", producers=["User:batch"]), "a.yaml")
    write(tmp_path, with_sources("second", producers=["User:batch"]), "b.yaml")
    result = load_tenants([tmp_path])
    assert result.rejected == ["second"]
    assert "producer principal 'User:batch'" in result.errors[0].message


def test_one_broken_tenant_does_not_reject_the_others(tmp_path: Path) -> None:
    write(tmp_path, VALID, "a.yaml")
    write(
        tmp_path,
        VALID.replace("name: acme", "name: beta") + "limits:\n  records_per_s: 0\n",
        "b.yaml",
    )
    result = load_tenants([tmp_path])
    assert [t.tenant.name for t in result.tenants] == ["acme"]
    assert result.rejected == ["beta"]


def test_a_namespace_listed_twice_in_one_tenant(tmp_path: Path) -> None:
    errors = load_tenants([write(tmp_path, with_sources("acme", namespaces=["a1", "a1"]))]).errors
    assert len(errors) == 1
    assert "listed more than once: a1" in errors[0].message


def test_the_pipeline_examples_are_valid() -> None:
    result = load_tenants([EXAMPLES.parent / "pipelines"])
    assert result.errors == []
    assert result.tenants


def test_the_docs_pipeline_example_is_valid(tmp_path: Path) -> None:
    root = EXAMPLES.parents[1]
    text = "".join(path.read_text() for path in [root / "README.md", *(root / "docs").glob("*.md")])
    blocks = [b.split("```", 1)[0] for b in text.split("```yaml\n")[1:]]
    with_pipeline = [b for b in blocks if "pipeline:" in b and "samples:" in b]
    assert with_pipeline
    result = load_tenants([write(tmp_path, with_pipeline[0])])
    assert result.errors == []
