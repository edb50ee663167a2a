"""Read side: every number the analytics pages, CSV exports and JSON API show, from the rollups.

One module owns the arithmetic (rates, averages, weekly buckets) so a page, its CSV and its
JSON endpoint can never disagree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.db.models import F, IntegerField, QuerySet, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, TruncWeek
from django.utils import timezone

from analytics.models import DailyRollup, RollupLevel
from analytics.rollups import local_day
from inbox.models import Channel, EscalationReason, Plan

SUMS = [
    "conversations", "ai_involved", "ai_resolved", "deflected", "escalated", "resolved", "first_contact_resolved",
    "follow_ups", "abandoned", "billing", "first_response_sum", "first_response_count", "resolution_sum",
    "resolution_count", "csat_sum", "csat_count", "csat_low",
]
REASON_LABELS = dict(EscalationReason.choices)


def rate(num: float | None, den: float | None) -> float | None:
    """A share in 0..1, or None when there is nothing to divide by (shown as "—", never as 0%)."""
    return round(num / den, 4) if den else None


def mean(total: float, count: int) -> float | None:
    return round(total / count, 1) if count else None


def inbox_url(queue: str = "resolved", **params) -> str:
    """A drill-down into the inbox, which filters by account, plan, intent, channel, status and q."""
    clean = {k: v for k, v in params.items() if v not in (None, "", 0)}
    return "/inbox/?" + urlencode({"queue": queue, **clean})


@dataclass
class Filters:
    """The filters every page accepts: ?channel=&plan=&account=&intent=&days=&grain=."""

    channel: str = ""
    plan: str = ""
    account: int | None = None
    intent: str = ""
    days: int = 90
    grain: str = "week"
    today: dt.date = field(default_factory=lambda: local_day(timezone.now()))

    @classmethod
    def from_params(cls, params) -> Filters:
        def text(name) -> str:
            # PostgreSQL text cannot hold NUL: ?intent=%00 would be a DataError, a 500.
            return (params.get(name) or "").replace("\x00", "")

        def pick(name, allowed):
            value = text(name)
            return value if value in allowed else ""

        try:
            days = min(max(int(params.get("days", 90)), 1), 730)
        except ValueError:
            days = 90
        try:
            account = int(params["account"]) if params.get("account") else None
        except ValueError:
            account = None
        return cls(
            channel=pick("channel", Channel.values), plan=pick("plan", [*Plan.values, "none"]), account=account,
            intent=text("intent")[:100], days=days,
            grain="day" if params.get("grain") == "day" else "week",
        )

    @property
    def start(self) -> dt.date:
        return self.today - dt.timedelta(days=self.days - 1)

    def as_params(self) -> dict:
        return {k: v for k, v in {"channel": self.channel, "plan": self.plan, "account": self.account,
                                  "intent": self.intent, "days": self.days, "grain": self.grain}.items() if v}

    def inbox(self, queue: str = "resolved", **extra) -> str:
        """Drill-down carrying the filters the inbox understands (it has no date filter)."""
        params = {"channel": self.channel, "plan": self.plan if self.plan != "none" else "",
                  "account": self.account, "intent": self.intent}
        params.update(extra)
        return inbox_url(queue, **params)

    def rollups(self, level: str = RollupLevel.BASE, *, since: dt.date | None = None) -> QuerySet[DailyRollup]:
        """Rollup rows for the window and filters. An account filter reads the per-account level;
        the cohort level has no intent, so an intent filter cannot narrow it (the page says so)."""
        if self.account is not None:
            level = RollupLevel.ACCOUNT
        qs = DailyRollup.objects.filter(level=level, day__gte=since or self.start, day__lte=self.today)
        if self.account is not None:
            qs = qs.filter(account_id=self.account)
        if self.channel:
            qs = qs.filter(channel=self.channel)
        if self.plan:
            qs = qs.filter(plan=self.plan)
        if self.intent and level != RollupLevel.COHORT:
            qs = qs.filter(intent=self.intent)
        return qs


def _sums(qs: QuerySet, *group: str) -> list[dict]:
    return list(qs.values(*group).annotate(**{f"s_{k}": Sum(k) for k in SUMS}).order_by(*group))


def _derive(row: dict) -> dict:
    """Turn summed counters into the rates the pages show."""
    s = {k: row.get(f"s_{k}") or 0 for k in SUMS}
    n = s["conversations"]
    return {
        **{k: v for k, v in row.items() if not k.startswith("s_")},
        **s,
        "ai_involvement": rate(s["ai_involved"], n),
        "ai_resolution": rate(s["ai_resolved"], n),
        "deflection": rate(s["deflected"], n),
        "escalation_rate": rate(s["escalated"], n),
        "fcr": rate(s["first_contact_resolved"], s["resolved"]),
        "avg_first_response_s": mean(s["first_response_sum"], s["first_response_count"]),
        "avg_resolution_s": mean(s["resolution_sum"], s["resolution_count"]),
        "csat": mean(s["csat_sum"], s["csat_count"]) if s["csat_count"] else None,
        "csat_avg": round(s["csat_sum"] / s["csat_count"], 2) if s["csat_count"] else None,
    }


def has_rollups() -> bool:
    return DailyRollup.objects.exists()


def kpis(f: Filters) -> dict:
    """Totals over the window: the overview's tiles."""
    return _derive(f.rollups().aggregate(**{f"s_{k}": Sum(k) for k in SUMS}))


def trend(f: Filters) -> list[dict]:
    """Per day or per ISO week (Monday), oldest first, with escalation reasons per period.

    One query: the counters and the per-reason sums come back together, so the overview
    (tiles, trend, reasons, improvement curve) costs a single scan of the rollups.
    """
    qs = f.rollups()
    qs = qs.annotate(period=TruncWeek("day")) if f.grain == "week" else qs.annotate(period=F("day"))
    reason_sums = {f"r_{r}": Sum(Cast(KeyTextTransform(r, "escalation_reasons"), IntegerField()))
                   for r in EscalationReason.values}
    raw = qs.values("period").annotate(**{f"s_{k}": Sum(k) for k in SUMS}, **reason_sums).order_by("period")
    rows = []
    for r in raw:
        period = r["period"]
        row = _derive({k: v for k, v in r.items() if not k.startswith("r_")})
        row["period"] = period.date().isoformat() if isinstance(period, dt.datetime) else period.isoformat()
        row["reasons"] = {k[2:]: v for k, v in r.items() if k.startswith("r_") and v}
        rows.append(row)
    return rows


def totals(rows: list[dict]) -> dict:
    """The window's totals from already-fetched trend rows (no second scan)."""
    return _derive({f"s_{k}": sum(r[k] for r in rows) for k in SUMS})


def reasons_from(rows: list[dict]) -> list[dict]:
    counts: dict[str, int] = {}
    for r in rows:
        for reason, n in r["reasons"].items():
            counts[reason] = counts.get(reason, 0) + n
    total = sum(counts.values())
    out = [{"reason": k, "label": REASON_LABELS.get(k, k), "count": v, "share": rate(v, total)}
           for k, v in counts.items()]
    return sorted(out, key=lambda r: (-r["count"], r["reason"]))


def escalation_reasons(f: Filters) -> list[dict]:
    return reasons_from(trend(f))


def by_intent(f: Filters) -> list[dict]:
    """Escalation, AI resolution, deflection and first-contact resolution per intent."""
    rows = [_derive(r) for r in _sums(f.rollups(), "intent")]
    return sorted(rows, key=lambda r: (-r["conversations"], r["intent"]))


def by_area(f: Filters) -> list[dict]:
    """Deflection by category (knowledge area); the account level has no area, so it reads base rows."""
    if f.account is not None:
        return []
    rows = [_derive(r) for r in _sums(f.rollups(), "area")]
    return sorted(rows, key=lambda r: (-r["conversations"], r["area"]))


TENURE_ORDER = ["<3m", "3-12m", "1-2y", "2y+", "none"]
PLAN_ORDER = [*Plan.values, "none"]


def cohorts(f: Filters) -> dict[str, list[dict]]:
    """Time to first response and to resolution by plan, tenure bucket and segment."""
    level = RollupLevel.COHORT
    qs = f.rollups(level)
    if f.account is not None:  # one account is one plan/tenure/segment: show it by plan only
        return {"plan": [_derive(r) for r in _sums(qs, "plan")], "tenure": [], "segment": []}
    plan = sorted((_derive(r) for r in _sums(qs, "plan")), key=lambda r: PLAN_ORDER.index(r["plan"])
                  if r["plan"] in PLAN_ORDER else 99)
    tenure = sorted((_derive(r) for r in _sums(qs, "tenure")), key=lambda r: TENURE_ORDER.index(r["tenure"])
                    if r["tenure"] in TENURE_ORDER else 99)
    segment = sorted((_derive(r) for r in _sums(qs, "segment")), key=lambda r: -r["conversations"])
    return {"plan": plan, "tenure": tenure, "segment": segment}


def improvement_curve(f: Filters, weekly: list[dict] | None = None) -> dict:
    """Intent-model holdout accuracy per trained version, beside the weekly AI resolution rate.

    `weekly`: trend rows already fetched at week grain, to save a scan.
    """
    from agents.models import ModelVersion

    versions = []
    for mv in ModelVersion.objects.filter(kind="intent").order_by("trained_at", "id").only(
            "id", "trained_at", "metrics", "status", "n_examples"):
        acc = (mv.metrics or {}).get("holdout_accuracy")
        if acc is None:
            continue
        versions.append({"id": mv.pk, "trained_at": mv.trained_at.isoformat(), "holdout_accuracy": round(acc, 4),
                         "status": mv.status, "n_examples": mv.n_examples})
    weekly = weekly if weekly is not None else trend(Filters(**{**f.__dict__, "grain": "week"}))
    return {"versions": versions,
            "weekly_ai_resolution": [{"week": r["period"], "ai_resolution": r["ai_resolution"],
                                      "conversations": r["conversations"]} for r in weekly]}


# ------------------------------------------------------------------ churn risk
CHURN_RECENT_DAYS = 30
CHURN_BASELINE_DAYS = 90


CHURN_SQL = """
    SELECT account_id,
           coalesce(sum(conversations) FILTER (WHERE day >= %(recent)s), 0),
           coalesce(sum(conversations) FILTER (WHERE day < %(recent)s), 0),
           coalesce(sum(follow_ups) FILTER (WHERE day >= %(recent)s), 0),
           coalesce(sum(csat_sum) FILTER (WHERE day >= %(recent)s), 0),
           coalesce(sum(csat_count) FILTER (WHERE day >= %(recent)s), 0),
           coalesce(sum(csat_low) FILTER (WHERE day >= %(recent)s), 0),
           coalesce(sum(billing) FILTER (WHERE day >= %(recent)s), 0),
           coalesce(sum(escalated) FILTER (WHERE day >= %(recent)s), 0)
    FROM analytics_dailyrollup
    WHERE level = 'account' AND account_id <> 0 AND day >= %(base)s AND day <= %(today)s
    GROUP BY account_id
    HAVING sum(conversations) FILTER (WHERE day >= %(recent)s) > 0
"""


def churn_risk(today: dt.date | None = None, limit: int = 100) -> list[dict]:
    """Accounts whose support signals look like churn, scored 0–100 with the reasons in words.

    Reads the per-account rollups (one grouped query): the last 30 days against the account's
    own previous 90. Each signal adds fixed points so the score is explainable: rising contact
    rate (30), repeated same-issue contacts (20), low CSAT (20), billing questions (15),
    escalations (15). Thresholds are shares as well as counts, so a big account is not flagged
    for being big.
    """
    from django.db import connection

    from inbox.models import Account

    today = today or local_day(timezone.now())
    recent_start = today - dt.timedelta(days=CHURN_RECENT_DAYS - 1)
    base_start = recent_start - dt.timedelta(days=CHURN_BASELINE_DAYS)
    first = (DailyRollup.objects.filter(level=RollupLevel.ACCOUNT).order_by("day")
             .values_list("day", flat=True).first())
    # Young data: the baseline is only as long as the history before the recent window.
    base_days = min(CHURN_BASELINE_DAYS, max((recent_start - first).days, 0)) if first else 0
    with connection.cursor() as cursor:
        cursor.execute(CHURN_SQL, {"recent": recent_start, "base": base_start, "today": today})
        rows = cursor.fetchall()
    churned = set(Account.objects.filter(churned_at__isnull=False).values_list("id", flat=True))
    flagged = []
    for account_id, n, base_n, follow_ups, csat_sum, csat_n, low, billing, esc in rows:
        if account_id in churned:
            continue
        base_rate = base_n * CHURN_RECENT_DAYS / base_days if base_days >= 14 else None
        score, reasons = 0, []
        if base_rate is not None and n >= 3 and n >= 2 * max(base_rate, 1.0):
            score += 30
            reasons.append(f"Contact rate rising: {n} conversations in the last 30 days vs "
                           f"{base_rate:.1f} per 30 days before.")
        if follow_ups >= 2:
            score += 20
            reasons.append(f"Repeated contacts about the same issue: {follow_ups} follow-ups.")
        if csat_n >= 2 and (csat_sum / csat_n <= 3.0 or (low >= 2 and low >= 0.3 * csat_n)):
            score += 20
            reasons.append(f"Low CSAT: average {csat_sum / csat_n:.1f} over {csat_n} ratings ({low} of them 1 or 2).")
        if billing >= 2 and billing >= 0.4 * n:
            score += 15
            reasons.append(f"Billing questions: {billing} of {n} conversations in the last 30 days.")
        if esc >= 3 and esc >= 0.5 * n:
            score += 15
            reasons.append(f"Escalations: {esc} of {n} conversations needed a human.")
        if score:
            flagged.append({
                "account_id": account_id, "score": score, "reasons": reasons, "recent_conversations": n,
                "baseline_per_30d": round(base_rate, 1) if base_rate is not None else None, "follow_ups": follow_ups,
                "csat_avg": round(csat_sum / csat_n, 2) if csat_n else None, "billing": billing, "escalated": esc,
                "open_url": inbox_url("open", account=account_id),
                "resolved_url": inbox_url("resolved", account=account_id),
            })
    info = {a["id"]: a for a in Account.objects.filter(pk__in=[f["account_id"] for f in flagged])
            .values("id", "name", "plan", "mrr")}
    for f in flagged:
        a = info.get(f["account_id"], {})
        f.update(account=a.get("name", f"Account {f['account_id']}"), plan=a.get("plan", ""),
                 mrr=float(a.get("mrr") or 0))
    flagged.sort(key=lambda a: (-a["score"], -a["mrr"], a["account"]))
    return flagged[:limit]
