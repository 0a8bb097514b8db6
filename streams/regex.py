"""Tenant regexes: always RE2 (linear time, no backtracking), never Python's `re`.

A tenant's pattern runs on shared workers against untrusted log lines; with a backtracking engine
one bad pattern (`(a+)+$`) could stall every tenant on the worker. RE2 refuses constructs it
cannot run in linear time (backreferences, lookaround) at validation time instead.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

MAX_PATTERN = 1000


class RegexError(ValueError):
    """A pattern RE2 refuses, with RE2's reason."""


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # errors are returned to the tenant, not logged to stderr
    options.max_mem = 8 << 20
    return options


@lru_cache(maxsize=1024)
def compile_re2(pattern: str) -> Any:
    """The compiled RE2 pattern, or `RegexError` saying why RE2 refuses it."""
    if len(pattern) > MAX_PATTERN:
        raise RegexError(f"a pattern is at most {MAX_PATTERN} characters")
    try:
        return re2.compile(pattern, options=_options())
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise RegexError(
            f"RE2 cannot compile {pattern!r}: {reason} (RE2 has no backreferences or "
            "lookaround; see https://github.com/google/re2/wiki/Syntax)"
        ) from None
