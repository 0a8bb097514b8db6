"""`parse`: turn a text field into fields. Formats: json, logfmt, regex (RE2), cri, docker.

- `json`: the field holds a JSON object;
- `logfmt`: `key=value key2="quoted value" flag`;
- `regex`: an RE2 pattern with named groups; each group becomes a field;
- `cri`: a CRI container log line `<time> <stream> <P|F> <line>` -> `time`, `stream`, `logtag`,
  `message`;
- `docker`: a Docker json-file record `{"log", "stream", "time"}` -> `message` (without its
  trailing newline), `stream`, `time`, and `logtag` (`F` when the line ended, `P` when Docker
  split it and the rest follows: see `reassemble`).

The parsed fields are merged at the top level (or under `target`), replacing fields of the same
name; the source field is removed unless `keep_source`. A field that does not parse dead-letters
the record (`invalid_json`, `not_an_object`, `pattern_mismatch`, `missing_field`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

import orjson
from pydantic import Field, model_validator

from logway.core.deadletter import Reason
from streams.fields import MISSING, compile_path
from streams.regex import RegexError, compile_re2
from streams.steps.base import (
    CompiledStep,
    Document,
    Failure,
    FieldRef,
    Record,
    StepConfig,
    StepResult,
    semantic_error,
)

Parser = Callable[[str], "Document | Failure"]
LOGFMT_PAIR = re.compile(r'([^\s=]+)(?:=("(?:[^"\\]|\\.)*"|\S*))?')


class ParseStep(StepConfig):
    """Parse a text field into fields."""

    name = "parse"
    step: Literal["parse"] = Field(description="The step's name.")
    format: Literal["json", "logfmt", "regex", "cri", "docker"] = Field(
        description="How the field is written.", examples=["json"]
    )
    field: FieldRef = Field("message", description="The text field to parse.")
    target: FieldRef | None = Field(
        None,
        description="Put the parsed fields under this field instead of at the top level.",
        examples=["parsed"],
    )
    pattern: str | None = Field(
        None,
        max_length=1000,
        description="For `regex`: an RE2 pattern with named groups, `(?P<name>...)`.",
        examples=[r"^(?P<client>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] \"(?P<request>[^\"]*)\""],
    )
    keep_source: bool = Field(False, description="Keep the source field after parsing it.")

    @model_validator(mode="after")
    def _pattern_fits_format(self) -> ParseStep:
        if self.format != "regex":
            if self.pattern is not None:
                raise ValueError("`pattern` is only for `format: regex`; remove it")
            return self
        if self.pattern is None:
            raise ValueError("`format: regex` needs a `pattern` with named groups")
        try:
            regex = compile_re2(self.pattern)
        except RegexError as exc:
            raise semantic_error(str(exc)) from None
        if not regex.groupindex:
            raise semantic_error(
                "the pattern has no named group, so it would produce no field; "
                "name what you capture: (?P<status>\\d+)"
            )
        return self

    def build(self) -> CompiledStep:
        source = compile_path(self.field)
        target = compile_path(self.target) if self.target else None
        parser = self._parser()
        keep = self.keep_source
        missing = Failure(Reason.MISSING_FIELD, f"field {self.field!r} is missing")

        def parse(doc: Document, record: Record) -> StepResult:
            text = source.pop(doc) if not keep else source.get(doc)
            if text is MISSING:
                return missing
            if not isinstance(text, str):
                if not keep:
                    source.set(doc, text)
                return Failure(
                    Reason.PATTERN_MISMATCH,
                    f"field {self.field!r} is a {type(text).__name__}, not text",
                )
            parsed = parser(text)
            if isinstance(parsed, Failure):
                if not keep:
                    source.set(doc, text)
                return parsed
            if target is None:
                doc.update(parsed)
            else:
                target.set(doc, parsed)
            return doc

        return parse

    def _parser(self) -> Parser:
        if self.format == "json":
            return parse_json
        if self.format == "logfmt":
            return parse_logfmt
        if self.format == "cri":
            return parse_cri
        if self.format == "docker":
            return parse_docker
        assert self.pattern is not None
        return _regex_parser(self.pattern)


def parse_json(text: str) -> Document | Failure:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return Failure(Reason.INVALID_JSON, f"not valid JSON: {exc}")
    if type(value) is not dict:
        return Failure(Reason.NOT_AN_OBJECT, f"a JSON {type(value).__name__}, expected an object")
    return value


def parse_logfmt(text: str) -> Document | Failure:
    fields: Document = {}
    for match in LOGFMT_PAIR.finditer(text):
        key, value = match.group(1), match.group(2)
        if value is None:
            fields[key] = True
        elif value.startswith('"'):
            try:
                fields[key] = orjson.loads(value)
            except orjson.JSONDecodeError:
                fields[key] = value[1:-1]
        else:
            fields[key] = value
    if not fields or all(value is True for value in fields.values()):
        return Failure(Reason.PATTERN_MISMATCH, "no key=value pair found")
    return fields


def _regex_parser(pattern: str) -> Parser:
    search = compile_re2(pattern).search

    def parse(text: str) -> Document | Failure:
        match = search(text)
        if match is None:
            return Failure(Reason.PATTERN_MISMATCH, f"the line does not match {pattern!r}")
        return {name: value for name, value in match.groupdict().items() if value is not None}

    return parse


def parse_cri(text: str) -> Document | Failure:
    parts = text.split(" ", 3)
    if len(parts) < 3 or parts[1] not in ("stdout", "stderr") or parts[2] not in ("P", "F"):
        return Failure(
            Reason.PATTERN_MISMATCH, "not a CRI log line (`<time> <stream> <P|F> <line>`)"
        )
    return {
        "time": parts[0],
        "stream": parts[1],
        "logtag": parts[2],
        "message": parts[3] if len(parts) == 4 else "",
    }


def parse_docker(text: str) -> Document | Failure:
    outer = parse_json(text)
    if isinstance(outer, Failure):
        return outer
    line: Any = outer.get("log")
    if not isinstance(line, str):
        return Failure(
            Reason.PATTERN_MISMATCH, 'not a Docker json-file record (no text "log" field)'
        )
    ended = line.endswith("\n")
    return {
        "message": line[:-1] if ended else line,
        "stream": outer.get("stream", "stdout"),
        "time": outer.get("time"),
        "logtag": "F" if ended else "P",
    }
