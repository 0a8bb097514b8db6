"""Dotted field paths into a document (`http.status`, `kubernetes.labels.app`), compiled once.

A path never raises on a missing or non-object segment: `get` returns `MISSING`, `pop` returns
`MISSING`, and `set` creates the objects it needs (replacing a non-object in its way).
"""

from __future__ import annotations

import re
from typing import Any, Final

Document = dict[str, Any]
FIELD_PATH = r"[A-Za-z_@][A-Za-z0-9_@-]*(?:\.[A-Za-z_@][A-Za-z0-9_@-]*){0,15}"
FIELD_PATH_RE: Final = re.compile(rf"^{FIELD_PATH}$")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final[Any] = _Missing()


class FieldPath:
    """A compiled dotted path; one-segment paths take the fast way."""

    __slots__ = ("head", "parents", "text")

    def __init__(self, text: str) -> None:
        if not FIELD_PATH_RE.match(text):
            raise ValueError(
                f"{text!r} is not a field path: names of letters, digits, '_', '@' or '-', "
                "joined by '.', at most 16 deep"
            )
        *parents, head = text.split(".")
        self.text = text
        self.parents = tuple(parents)
        self.head = head

    def __repr__(self) -> str:
        return f"FieldPath({self.text!r})"

    def _parent(self, doc: Document, create: bool) -> Document | None:
        node: Any = doc
        for name in self.parents:
            child = node.get(name)
            if not isinstance(child, dict):
                if not create:
                    return None
                child = node[name] = {}
            node = child
        return node  # type: ignore[no-any-return]

    def get(self, doc: Document) -> Any:
        if not self.parents:
            return doc.get(self.head, MISSING)
        parent = self._parent(doc, create=False)
        return MISSING if parent is None else parent.get(self.head, MISSING)

    def set(self, doc: Document, value: Any) -> None:
        if not self.parents:
            doc[self.head] = value
            return
        parent = self._parent(doc, create=True)
        assert parent is not None
        parent[self.head] = value

    def pop(self, doc: Document) -> Any:
        if not self.parents:
            return doc.pop(self.head, MISSING)
        parent = self._parent(doc, create=False)
        return MISSING if parent is None else parent.pop(self.head, MISSING)


def compile_path(text: str) -> FieldPath:
    return FieldPath(text)
