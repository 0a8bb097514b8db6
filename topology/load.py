"""Loading tenant YAML: untrusted input, refused with errors a person can act on.

Every error names the file, the line and column, the field path and what to do. Inputs are
bounded: file size, node count (so a YAML alias bomb is refused before it expands) and depth.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from pydantic import ValidationError

from topology.dryrun import dry_run
from topology.model import Tenant

MAX_FILE_BYTES = 1_048_576
MAX_NODES = 20_000
MAX_DEPTH = 32
YAML_SUFFIXES = (".yaml", ".yml")


Level = Literal["static", "semantic", "dry-run", "online"]
LEVELS: tuple[Level, ...] = ("static", "semantic", "dry-run", "online")


@dataclass(frozen=True)
class ConfigError:
    """One problem in one place of a tenant file."""

    file: str
    line: int
    column: int
    path: str
    message: str
    tenant: str | None = None  # the tenant this error rejects, when it is known
    level: Level = "static"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


@dataclass(frozen=True)
class LoadedTenant:
    tenant: Tenant
    file: str
    line: int
    node: yaml.Node = field(repr=False, compare=False)

    def error(
        self, loc: tuple[int | str, ...], message: str, level: Level = "semantic"
    ) -> ConfigError:
        """An error about this tenant at `loc` (a path into its document), pointing at the line."""
        at = _node_at(self.node, loc)
        path = ".".join(str(part) for part in (self.tenant.name, *loc))
        return ConfigError(
            self.file,
            at.start_mark.line + 1,
            at.start_mark.column + 1,
            path,
            message,
            self.tenant.name,
            level,
        )


@dataclass
class LoadResult:
    """Accepted tenants, and every error. A tenant with any error is not among `tenants`."""

    tenants: list[LoadedTenant] = field(default_factory=list)
    errors: list[ConfigError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def rejected(self) -> list[str]:
        """Names of the tenants refused (documents without a readable name are not listed)."""
        return sorted({e.tenant for e in self.errors if e.tenant})


def tenant_files(paths: Iterable[Path]) -> Iterator[Path]:
    """The YAML files named, and those directly inside named directories, in a stable order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.iterdir() if p.suffix in YAML_SUFFIXES)
        else:
            yield path


def load_tenants(paths: Iterable[Path]) -> LoadResult:
    """Load and validate every tenant document in `paths`; collect all errors, stop at none."""
    result = LoadResult()
    for file in tenant_files(paths):
        _load_file(file, result)
    _check_claims(result)
    _dry_run(result)
    return result


def load_document(label: str, data: dict[str, object]) -> LoadResult:
    """Validate one tenant given as data (a custom resource's name and spec) exactly as a file's
    document is validated: bounds, model, dry run. Errors name `label` for the file; their
    lines are those of the document as YAML."""
    result = LoadResult()
    node = yaml.compose(yaml.safe_dump(data, sort_keys=False), Loader=yaml.SafeLoader)
    if node is None:
        result.errors.append(ConfigError(label, 0, 0, "", "empty document"))
        return result
    problem = _bounds_problem(node)
    if problem:
        result.errors.append(ConfigError(label, 0, 0, "", problem))
        return result
    _validate_document(label, node, data, result)
    _dry_run(result)
    return result


def _dry_run(result: LoadResult) -> None:
    """Compile each accepted tenant's pipeline and run its samples; a failing one is rejected."""
    passed = []
    for loaded in result.tenants:
        problems = [
            loaded.error(loc, message, level="dry-run") for loc, message in dry_run(loaded.tenant)
        ]
        result.errors += problems
        if not problems:
            passed.append(loaded)
    result.tenants = passed


def _load_file(file: Path, result: LoadResult) -> None:
    name = str(file)
    try:
        size = file.stat().st_size
    except OSError as exc:
        result.errors.append(ConfigError(name, 0, 0, "", f"cannot read: {exc.strerror}"))
        return
    if size > MAX_FILE_BYTES:
        result.errors.append(
            ConfigError(
                name,
                0,
                0,
                "",
                f"file is {size} bytes, over the {MAX_FILE_BYTES}-byte limit for tenant files; "
                "split it into one file per tenant",
            )
        )
        return
    raw = file.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        result.errors.append(
            ConfigError(name, 0, 0, "", f"not UTF-8 text (byte {exc.start}); save it as UTF-8")
        )
        return
    loader = SAFE_LOADER(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            problem = _bounds_problem(node)
            if problem:
                line, col = node.start_mark.line + 1, node.start_mark.column + 1
                result.errors.append(ConfigError(name, line, col, "", problem))
                continue
            data = loader.construct_document(node)
            _validate_document(name, node, data, result)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        result.errors.append(
            ConfigError(name, line, col, "", f"YAML syntax: {exc.problem or exc.context}")
        )
    except yaml.YAMLError as exc:
        result.errors.append(ConfigError(name, 0, 0, "", f"YAML: {exc}"))
    finally:
        loader.dispose()


# libyaml's loader where PyYAML was built with it: the same nodes and marks, 8 times faster
# (loading 1,000 tenant files took 1.7 s with the pure-Python one).
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _bounds_problem(root: yaml.Node) -> str | None:
    """Refuse documents that cost more than a tenant ever needs, or that YAML would misread.

    Counts nodes with aliases expanded (a YAML bomb), depth, and duplicate keys.
    """
    count = 0
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            return (
                f"document has over {MAX_NODES} nodes once aliases are expanded; "
                "a tenant needs far fewer (is this a YAML bomb?)"
            )
        if depth > MAX_DEPTH:
            return f"document is nested deeper than {MAX_DEPTH} levels"
        if isinstance(node, yaml.MappingNode):
            seen: set[object] = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        return (
                            f"key {key.value!r} appears twice in one mapping (line "
                            f"{key.start_mark.line + 1}); YAML would silently keep the last one"
                        )
                    seen.add(key.value)
                stack.append((key, depth + 1))
                stack.append((value, depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, depth + 1) for item in node.value)
    return None


def _validate_document(file: str, node: yaml.Node, data: object, result: LoadResult) -> None:
    line = node.start_mark.line + 1
    if not isinstance(data, dict):
        result.errors.append(
            ConfigError(
                file,
                line,
                node.start_mark.column + 1,
                "",
                f"a tenant document is a mapping with at least 'name' and 'owners'; "
                f"got {type(data).__name__}",
            )
        )
        return
    try:
        tenant = Tenant.model_validate(data)
    except ValidationError as exc:
        name = data.get("name")
        label = name if isinstance(name, str) else "tenant"
        for err in exc.errors():
            loc = tuple(err["loc"])
            at = _node_at(node, loc)
            path = ".".join(str(part) for part in (label, *loc))
            result.errors.append(
                ConfigError(
                    file,
                    at.start_mark.line + 1,
                    at.start_mark.column + 1,
                    path,
                    _explain(err),
                    name if isinstance(name, str) and name else None,
                    "semantic" if err["type"] == "semantic" else "static",
                )
            )
        return
    result.tenants.append(LoadedTenant(tenant, file, line, node))


def _node_at(node: yaml.Node, loc: tuple[int | str, ...]) -> yaml.Node:
    """The deepest node along `loc` (a pydantic error location) that exists in the document."""
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    node = value
                    break
            else:
                return node
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return node
            node = node.value[part]
        else:
            return node
    return node


def _explain(err: object) -> str:
    assert isinstance(err, dict)
    kind, msg = err.get("type"), str(err.get("msg"))
    if kind == "extra_forbidden":
        return "unknown field; check its spelling against `logway schema`"
    if kind == "missing":
        return "required field is missing"
    if kind == "string_pattern_mismatch":
        ctx = err.get("ctx") or {}
        return f"{err.get('input')!r} does not match {ctx.get('pattern')}"
    return msg.removeprefix("Value error, ")


Claim = tuple[str, str, tuple[int | str, ...]]  # (kind, value, where in the document)


def claims_of(tenant: Tenant) -> list[Claim]:
    """What a tenant claims for itself alone: namespaces, its own and its producer principals
    (a principal's quota and ACLs are one tenant's), its forward key secret."""
    claims: list[Claim] = [("producer principal", f"User:{tenant.name}", ("name",))]
    claims += [
        ("namespace", ns, ("sources", "namespaces", i))
        for i, ns in enumerate(tenant.sources.namespaces)
    ]
    claims += [
        ("producer principal", principal, ("sources", "producers", i))
        for i, principal in enumerate(tenant.sources.producers)
    ]
    forward = tenant.sources.forward
    if forward is not None and forward.shared_key_secret is not None:
        claims.append(
            (
                "forward shared key secret",
                forward.shared_key_secret,
                ("sources", "forward", "shared_key_secret"),
            )
        )
    return claims


def _check_claims(result: LoadResult) -> None:
    """Names, namespaces, producer principals and forward shared keys each belong to one tenant:
    the first to claim.

    A later claimant is rejected, with an error at the claim that names the first owner.
    """
    owners: dict[tuple[str, str], LoadedTenant] = {}
    rejected: set[int] = set()
    for index, loaded in enumerate(result.tenants):
        tenant = loaded.tenant
        claims = [("tenant name", tenant.name, ("name",)), *claims_of(tenant)]
        for kind, value, loc in claims:
            first = owners.setdefault((kind, value), loaded)
            if first is loaded:
                continue
            rejected.add(index)
            where = f"{first.file}:{first.line}"
            if kind == "tenant name":  # its other claims are the first's too: one error says it
                message = (
                    f"tenant {value!r} is already declared at {where}; tenant names are unique"
                )
                result.errors.append(loaded.error(loc, message))
                break
            message = (
                f"{kind} {value!r} is already claimed by tenant {first.tenant.name!r} "
                f"({where}); each belongs to one tenant"
            )
            result.errors.append(loaded.error(loc, message))
    result.tenants = [t for i, t in enumerate(result.tenants) if i not in rejected]
