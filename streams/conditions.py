"""The condition language tenants write in `when:` (drop, keep, sample, route).

A small, safe expression language, compiled once per tenant version into a Python closure:

    level == "error"
    http.status >= 500 and not (path in ["/health", "/ready"])
    exists trace_id or message matches "timeout|refused"

- comparisons `== != < <= > >=` between a field and a literal (string, number, true, false,
  null); `field in [literal, ...]`; `exists field`; `field matches "<RE2 pattern>"`;
- `and`, `or`, `not`, parentheses; fields are dotted paths into the document
  (`kubernetes.namespace`, `@timestamp`).

There is no `eval`, no function call and no loop, and the size of an expression is bounded, so the
cost per record is bounded by its length. Regexes are RE2: linear time, no backtracking, so a
tenant's pattern cannot stall a shared worker. A comparison whose field is missing, or whose
types do not compare (a string against a number), is false, never an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streams.fields import MISSING, FieldPath, compile_path
from streams.regex import RegexError, compile_re2

Document = dict[str, Any]
Predicate = Callable[[Document], bool]

MAX_LENGTH = 2000
MAX_NODES = 64
MAX_LIST_ITEMS = 256
Literal = str | int | float | bool | None

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
    | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
    | (?P<word>[A-Za-z_@][A-Za-z0-9_@-]*(?:\.[A-Za-z_@][A-Za-z0-9_@-]*)*)
    )""",
    re.VERBOSE,
)
KEYWORDS = frozenset({"and", "or", "not", "in", "exists", "matches", "true", "false", "null"})


class ConditionError(ValueError):
    """An expression that does not compile; `column` is 1-based within the expression."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"{message} (at column {column})")
        self.column = column


@dataclass(frozen=True)
class _Token:
    kind: str  # string, number, op, word, end
    text: str
    column: int


def _tokens(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(source):
        if source[position:].strip() == "":
            break
        match = _TOKEN.match(source, position)
        if match is None or match.lastgroup is None:
            offset = len(source[position:]) - len(source[position:].lstrip())
            raise ConditionError(
                f"unexpected character {source[position + offset]!r}", position + offset + 1
            )
        text = match.group(match.lastgroup)
        tokens.append(_Token(match.lastgroup, text, match.start(match.lastgroup) + 1))
        position = match.end()
    tokens.append(_Token("end", "", len(source) + 1))
    return tokens


class _Parser:
    """Recursive descent: or -> and -> not -> comparison, each compiled to a closure."""

    def __init__(self, source: str) -> None:
        self.tokens = _tokens(source)
        self.at = 0
        self.nodes = 0

    def peek(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text or token.kind == "string":
            found = repr(token.text) if token.kind != "end" else "the end"
            raise ConditionError(f"expected {text!r}, found {found}", token.column)

    def count(self, token: _Token) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ConditionError(
                f"expression too large: more than {MAX_NODES} terms; split the rule",
                token.column,
            )

    def parse(self) -> Predicate:
        predicate = self.disjunction()
        token = self.peek()
        if token.kind != "end":
            raise ConditionError(
                f"unexpected {token.text!r}; join conditions with 'and' or 'or'", token.column
            )
        return predicate

    def disjunction(self) -> Predicate:
        terms = [self.conjunction()]
        while self.peek().kind == "word" and self.peek().text == "or":
            self.count(self.take())
            terms.append(self.conjunction())
        if len(terms) == 1:
            return terms[0]
        return lambda doc: any(term(doc) for term in terms)

    def conjunction(self) -> Predicate:
        terms = [self.negation()]
        while self.peek().kind == "word" and self.peek().text == "and":
            self.count(self.take())
            terms.append(self.negation())
        if len(terms) == 1:
            return terms[0]
        return lambda doc: all(term(doc) for term in terms)

    def negation(self) -> Predicate:
        token = self.peek()
        if token.kind == "word" and token.text == "not":
            self.count(self.take())
            inner = self.negation()
            return lambda doc: not inner(doc)
        return self.comparison()

    def comparison(self) -> Predicate:
        token = self.take()
        self.count(token)
        if token.kind == "op" and token.text == "(":
            inner = self.disjunction()
            self.expect(")")
            return inner
        if token.kind == "word" and token.text == "exists":
            path = self.field(self.take())
            return lambda doc: path.get(doc) is not MISSING
        path = self.field(token)
        operator = self.take()
        if operator.kind == "op" and operator.text in _COMPARE:
            return _compare(path, operator.text, self.literal(self.take()))
        if operator.kind == "word" and operator.text == "in":
            options = self.literal_list()
            return lambda doc: _member(path.get(doc), options)
        if operator.kind == "word" and operator.text == "matches":
            pattern = self.take()
            if pattern.kind != "string":
                raise ConditionError("'matches' takes a quoted RE2 pattern", pattern.column)
            try:
                regex = compile_re2(_unquote(pattern))
            except RegexError as exc:
                raise ConditionError(str(exc), pattern.column) from None
            search = regex.search

            def matches(doc: Document) -> bool:
                value = path.get(doc)
                return isinstance(value, str) and search(value) is not None

            return matches
        found = repr(operator.text) if operator.kind != "end" else "the end"
        raise ConditionError(
            f"expected a comparison (== != < <= > >= in matches) after "
            f"{token.text!r}, found {found}",
            operator.column,
        )

    def field(self, token: _Token) -> FieldPath:
        if token.kind != "word" or token.text in KEYWORDS:
            found = repr(token.text) if token.kind != "end" else "the end"
            raise ConditionError(f"expected a field name, found {found}", token.column)
        return compile_path(token.text)

    def literal(self, token: _Token) -> Literal:
        if token.kind == "string":
            return _unquote(token)
        if token.kind == "number":
            number = float(token.text)
            return int(number) if number.is_integer() and "." not in token.text else number
        if token.kind == "word" and token.text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[token.text]
        found = repr(token.text) if token.kind != "end" else "the end"
        raise ConditionError(
            f"expected a value (a quoted string, a number, true, false or null), found {found}; "
            "a field can only be compared with a value",
            token.column,
        )

    def literal_list(self) -> tuple[Literal, ...]:
        self.expect("[")
        items: list[Literal] = []
        while True:
            token = self.take()
            if token.kind == "op" and token.text == "]" and not items:
                break
            items.append(self.literal(token))
            if len(items) > MAX_LIST_ITEMS:
                raise ConditionError(f"a list holds at most {MAX_LIST_ITEMS} values", token.column)
            closing = self.take()
            if closing.kind == "op" and closing.text == "]":
                break
            if not (closing.kind == "op" and closing.text == ","):
                raise ConditionError("expected ',' or ']' in the list", closing.column)
        return tuple(items)


_COMPARE = frozenset({"==", "!=", "<", "<=", ">", ">="})


def _unquote(token: _Token) -> str:
    """String literals are raw except for `\\"` and `\\\\`, so RE2 patterns read as written."""
    return _ESCAPE.sub(lambda m: m.group(1), token.text[1:-1])


_ESCAPE = re.compile(r'\\(["\\])')


def _member(value: Any, options: tuple[Literal, ...]) -> bool:
    if isinstance(value, dict | list):
        return False
    return any(_equal(value, option) for option in options)


def _equal(value: Any, literal: Literal) -> bool:
    if isinstance(value, bool) or isinstance(literal, bool):
        return value is literal
    return bool(value == literal)


def _compare(path: FieldPath, operator: str, literal: Literal) -> Predicate:
    get = path.get
    if operator == "==":
        return lambda doc: _equal(get(doc), literal)
    if operator == "!=":
        return lambda doc: (value := get(doc)) is not MISSING and not _equal(value, literal)
    ordered = _ORDERINGS[operator]

    def compare(doc: Document) -> bool:
        value = get(doc)
        if isinstance(value, bool) or isinstance(literal, bool):
            return False
        if isinstance(value, int | float) and isinstance(literal, int | float):
            return ordered(value, literal)
        if isinstance(value, str) and isinstance(literal, str):
            return ordered(value, literal)
        return False

    return compare


_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def compile_condition(source: str) -> Predicate:
    """Compile `source` into a predicate over a document, or raise `ConditionError`."""
    if not source.strip():
        raise ConditionError("the condition is empty", 1)
    if len(source) > MAX_LENGTH:
        raise ConditionError(f"a condition is at most {MAX_LENGTH} characters", MAX_LENGTH)
    return _Parser(source).parse()
