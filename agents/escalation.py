"""The escalation policy: which situations the AI should hand to a human before answering.

It estimates the chance that answering now resolves the conversation and hands off when that
chance is under `settings.ESCALATION_MIN_SUCCESS`. The estimate starts from the ranking's
expected success for the chosen answer, recalibrated by what answers in the same bucket
actually achieved, then shifted by what is known about the situation: the intent, the
customer's frustration, the account's value, a repeat contact, the page. Every outcome of an
AI answer updates those counts at once (no retraining step), and an agent's escalation reason
blames the matching feature twice as hard: "angry customer" teaches the frustration feature,
"high-value account" the value feature, "missing knowledge" the intent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection

from agents.models import EscalationStat
from inbox.models import EscalationReason

BUCKETS = 10
BUCKET_PRIOR = 4.0  # the ranking's own estimate is worth four outcomes in its bucket
MIN_EVIDENCE = 8.0  # a situation feature shifts the estimate only after this many outcomes
SHRINK = 20.0  # …and by n / (n + SHRINK) of its log-odds difference
MAX_SHIFT = 2.0  # in log-odds, all features together
HIGH_VALUE_MRR = 2000.0

# Which feature an agent's escalation reason blames, and the reason an early hand-off gives.
REASON_FEATURE = {
    EscalationReason.ANGRY_CUSTOMER: "frustration",
    EscalationReason.HIGH_VALUE_ACCOUNT: "value",
    EscalationReason.MISSING_KNOWLEDGE: "intent",
    EscalationReason.BILLING_ERROR: "intent",
    EscalationReason.BUG: "intent",
    EscalationReason.POLICY_EXCEPTION: "intent",
    EscalationReason.LOW_CONFIDENCE: "expected",
}
FEATURE_REASON = {
    "frustration": EscalationReason.ANGRY_CUSTOMER,
    "value": EscalationReason.HIGH_VALUE_ACCOUNT,
    "intent": EscalationReason.MISSING_KNOWLEDGE,
    "repeat": EscalationReason.MISSING_KNOWLEDGE,
    "area": EscalationReason.MISSING_KNOWLEDGE,
    "expected": EscalationReason.LOW_CONFIDENCE,
}


@dataclass
class Judgement:
    answer: bool
    p_success: float
    threshold: float
    keys: list[str]
    shifts: dict[str, float] = field(default_factory=dict)
    reason: str = EscalationReason.LOW_CONFIDENCE

    def as_trace(self) -> dict:
        return {"p_success": round(self.p_success, 4), "threshold": self.threshold, "keys": self.keys,
                "shifts": {k: round(v, 3) for k, v in self.shifts.items()}, "answer": self.answer}

    def why(self) -> str:
        return f"chance this answer resolves it {self.p_success:.2f} (hand off under {self.threshold:.2f})"


def bucket(expected: float) -> int:
    return min(BUCKETS - 1, max(0, int(expected * BUCKETS)))


def situation(*, expected: float, intent: str | None, frustration: float, context: dict, repeat: bool) -> list[str]:
    level = "high" if frustration >= 0.5 else "medium" if frustration >= 0.25 else "low"
    value = "high" if (context.get("mrr") or 0) >= HIGH_VALUE_MRR else "standard"
    return [
        f"expected:{bucket(expected)}",
        f"intent:{intent or '-'}",
        f"frustration:{level}",
        f"value:{value}",
        f"repeat:{'yes' if repeat else 'no'}",
        f"area:{context.get('area') or '-'}",
    ]


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def judge(keys: list[str]) -> Judgement:
    """Estimate the chance of success in this situation; answer if it plausibly clears the bar.

    The decision is optimistic while evidence is thin (posterior mean plus one standard
    deviation): a situation the AI never answers in would never produce the outcomes that show
    whether it should. Once a bucket has evidence the bound tightens onto what it achieved.
    """
    threshold = settings.ESCALATION_MIN_SUCCESS
    stats = {} if not settings.LEARNING_ENABLED else {
        s.key: s for s in EscalationStat.objects.filter(key__in=[*keys, "all:"])
    }
    expected_key = keys[0]
    b = int(expected_key.split(":")[1])
    prior = (b + 0.5) / BUCKETS
    row = stats.get(expected_key)
    a = prior * BUCKET_PRIOR + (row.successes if row else 0.0)
    c = (1 - prior) * BUCKET_PRIOR + (row.failures if row else 0.0)
    base = a / (a + c)
    spread = math.sqrt(base * (1 - base) / (a + c + 1))

    overall = stats.get("all:")
    shifts: dict[str, float] = {}
    if overall and overall.successes + overall.failures >= MIN_EVIDENCE:
        global_rate = (overall.successes + 1) / (overall.successes + overall.failures + 2)
        for key in keys[1:]:
            row = stats.get(key)
            n = (row.successes + row.failures) if row else 0.0
            if n < MIN_EVIDENCE:
                continue
            rate = (row.successes + 1) / (n + 2)
            shifts[key] = (n / (n + SHRINK)) * (_logit(rate) - _logit(global_rate))
    total = max(-MAX_SHIFT, min(MAX_SHIFT, sum(shifts.values())))
    p = 1 / (1 + math.exp(-(_logit(base) + total)))
    optimistic = 1 / (1 + math.exp(-(_logit(min(0.999, base + spread)) + total)))
    worst = min(shifts, key=shifts.get, default=None)
    reason = FEATURE_REASON.get(worst.split(":")[0], EscalationReason.LOW_CONFIDENCE) if (
        worst and shifts[worst] < -0.3) else EscalationReason.LOW_CONFIDENCE
    return Judgement(answer=optimistic >= threshold, p_success=p, threshold=threshold, keys=keys, shifts=shifts, reason=reason)


def learn(keys: list[str], reward: float, *, reason: str | None = None) -> None:
    """One outcome of an AI answer given in this situation; the reason's feature counts double."""
    if not settings.LEARNING_ENABLED or not keys or reward == 0:
        return
    blamed = REASON_FEATURE.get(reason or "")
    rows = []
    for key in [*keys, "all:"]:
        weight = 2.0 if blamed and key.startswith(blamed + ":") else 1.0
        rows.append((key[:140], max(reward, 0.0) * weight, max(-reward, 0.0) * weight))
    table = EscalationStat._meta.db_table
    with connection.cursor() as cursor:
        # One round trip, race-free increments: concurrent outcomes must not lose counts.
        cursor.executemany(
            f"INSERT INTO {table} (key, successes, failures, updated_at) VALUES (%s, %s, %s, now()) "  # noqa: S608
            f"ON CONFLICT (key) DO UPDATE SET successes = {table}.successes + EXCLUDED.successes, "
            f"failures = {table}.failures + EXCLUDED.failures, updated_at = now()",
            rows,
        )
