"""A tenant's dead letters over one interval, summed up as one Slack message. Pure.

The message says what broke (counts by reason and step), when (first and last failure), with
which config version, shows one or two samples cut short with sensitive values masked, and gives
the exact `logway dlq` commands to look and to replay. It never carries the webhook, a secret
reference's value, or a record's sensitive fields.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson

from logway.core.deadletter import DeadLetter, Reason

Severity = Literal["info", "warning", "critical"]
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
SAMPLES = 2
SAMPLE_CHARS = 300
SENSITIVE_KEY = re.compile(
    r"pass(word)?|secret|token|auth|api[-_]?key|cookie|session|card|cvv|ssn|e-?mail", re.I
)
SENSITIVE_KEYS = r"pass(?:word)?|secret|token|auth\w*|api[-_]?key|cookie|session|card|cvv|ssn"
SENSITIVE_TEXT = [
    # `"password": "x"` in broken JSON, `password=x` in logfmt: the value goes
    (re.compile(rf'(?i)("(?:{SENSITIVE_KEYS})"\s*:\s*)"(?:[^"\\]|\\.)*"?'), r'\1"[masked]"'),
    (re.compile(rf"(?i)\b((?:{SENSITIVE_KEYS})=)\S+"), r"\1[masked]"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[email]"),
    (re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer [token]"),
    (re.compile(r"\b\d{12,19}\b"), "[number]"),
]


def severity(reason: Reason) -> Severity:
    """`critical`: the platform failed; `info`: the tenant's own limit; `warning`: the rest."""
    if reason is Reason.INTERNAL_ERROR:
        return "critical"
    if reason is Reason.RATE_LIMITED:
        return "info"
    return "warning"


def mask(original: str) -> str:
    """A sample safe to post: sensitive JSON fields and text patterns masked, then cut short."""
    text = original
    try:
        value = orjson.loads(original)
    except orjson.JSONDecodeError:
        value = None
    if isinstance(value, dict):
        text = orjson.dumps(_mask_fields(value)).decode()
    for pattern, replacement in SENSITIVE_TEXT:
        text = pattern.sub(replacement, text)
    return text if len(text) <= SAMPLE_CHARS else text[:SAMPLE_CHARS] + " …"


def _mask_fields(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: "[masked]" if SENSITIVE_KEY.search(str(k)) else _mask_fields(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_mask_fields(v) for v in value]
    return value


@dataclass
class Digest:
    """Dead letters of one tenant gathered since `opened` (monotonic seconds)."""

    tenant: str
    opened: float
    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    first: datetime | None = None
    last: datetime | None = None
    samples: list[DeadLetter] = field(default_factory=list)
    versions: set[str] = field(default_factory=set)
    worst: Severity = "info"
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)  # next offset to commit

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, letter: DeadLetter, topic: str, partition: int, offset: int) -> None:
        self.counts[(str(letter.reason), str(letter.stage), letter.step)] += 1
        self.first = min(self.first or letter.failed_at, letter.failed_at)
        self.last = max(self.last or letter.failed_at, letter.failed_at)
        if letter.tenant_version:
            self.versions.add(letter.tenant_version)
        level = severity(letter.reason)
        if SEVERITY_RANK[level] > SEVERITY_RANK[self.worst]:
            self.worst = level
        if len(self.samples) < SAMPLES and all(s.reason != letter.reason for s in self.samples):
            self.samples.append(letter)
        self.offsets[(topic, partition)] = offset + 1

    def worth_posting(self, min_severity: Severity) -> bool:
        return self.total > 0 and SEVERITY_RANK[self.worst] >= SEVERITY_RANK[min_severity]

    def message(self, channel: str, window_minutes: float) -> dict[str, Any]:
        """The Slack Block Kit payload."""
        since = f"{max(1, math.ceil(window_minutes))}m"
        title = f"{self.tenant}: {self.total} log record(s) could not be processed or indexed"
        lines = [
            f"• `{reason}` at {stage}/{step}: *{count}*"
            for (reason, stage, step), count in self.counts.most_common(10)
        ]
        window = (
            f"{self.first:%Y-%m-%d %H:%M:%S} to {self.last:%H:%M:%S} UTC"
            if self.first and self.last
            else "-"
        )
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*First and last failure*\n{window}"},
                    {
                        "type": "mrkdwn",
                        "text": "*Config version*\n" + (", ".join(sorted(self.versions)) or "-"),
                    },
                ],
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "*By reason and step*\n" + "\n".join(lines)},
            },
        ]
        for sample in self.samples:
            blocks.append(
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": f"*Sample* (`{sample.reason}`): {mask(sample.error)[:200]}\n"
                        f"```{mask(sample.original)}```",
                    },
                }
            )
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"Look: `logway dlq show --tenant {self.tenant} --since {since}`"
                        f"   Replay once fixed: "
                        f"`logway dlq replay --tenant {self.tenant} --since {since}`",
                    }
                ],
            }
        )
        return {"channel": channel, "text": title, "blocks": blocks}
