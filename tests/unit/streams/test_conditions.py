from typing import Any

import pytest

from streams.conditions import ConditionError, compile_condition

DOC: dict[str, Any] = {
    "level": "error",
    "http": {"status": 503, "path": "/pay"},
    "message": "upstream timeout after 30s",
    "retry": True,
    "user": None,
    "tags": ["a"],
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('level == "error"', True),
        ('level != "error"', False),
        ("http.status >= 500", True),
        ("http.status < 500", False),
        ('http.path in ["/pay", "/refund"]', True),
        ('http.path in ["/health"]', False),
        ("exists http.status", True),
        ("exists http.missing", False),
        ("exists user", True),  # present, even if null
        ("user == null", True),
        ("retry == true", True),
        ("retry == 1", False),  # booleans are not numbers
        ('message matches "time(out|d out)"', True),
        ('message matches "^timeout"', False),
        ('http.status matches "5.."', False),  # matches is for text only
        ('http.status == "503"', False),  # no coercion between text and numbers
        ('http.status > "5"', False),  # types that do not compare are false, not an error
        ("missing != 1", False),  # a missing field is not "different", it is absent
        ("tags == 1", False),
        ('not level == "info"', True),
        ('level == "info" or http.status == 503', True),
        ('level == "error" and not (http.status in [500, 502])', True),
        ('(level == "info" or level == "error") and exists message', True),
        ("http.status == 503.0", True),
        ("http.status >= 5e2", True),
    ],
)
def test_condition_evaluates(expression: str, expected: bool) -> None:
    assert compile_condition(expression)(DOC) is expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "empty"),
        ('level = "x"', "unexpected character '='"),
        ("level ==", "expected a value"),
        ("level == other_field", "a field can only be compared with a value"),
        ('(level == "x"', "expected ')'"),
        ('level == "x" level == "y"', "join conditions with 'and' or 'or'"),
        ("exists", "expected a field name"),
        ("and == 1", "expected a field name"),
        ('message matches "(a)\\1"', "RE2 cannot compile"),
        ("message matches 12", "quoted RE2 pattern"),
        ("level in [1, 2", "expected ',' or ']'"),
        ("level ~ 1", "unexpected character '~'"),
        (" or ".join(["a == 1"] * 40), "expression too large"),
        ("a == 1" + " " * 2000, "at most 2000 characters"),
    ],
)
def test_bad_condition_is_refused_with_a_reason(expression: str, message: str) -> None:
    with pytest.raises(ConditionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compile_condition(expression)


def test_error_points_at_the_column() -> None:
    with pytest.raises(ConditionError) as caught:
        compile_condition('level == "x" and http.status >> 3')
    assert caught.value.column == 31


def test_pattern_literals_keep_backslashes_for_re2() -> None:
    assert compile_condition(r'message matches "after \d+s"')(DOC)
    assert compile_condition(r'message == "say \"hi\""')({"message": 'say "hi"'})


def test_no_code_runs_from_a_condition() -> None:
    with pytest.raises(ConditionError):
        compile_condition("__import__('os').system('true')")
