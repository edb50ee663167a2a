"""Managers' analytics pages, their CSV exports (?format=csv) and read-only JSON API.

Each page is one `build_*` function returning tables, charts and tiles; the HTML view, the CSV
export and /analytics/api/<page>/ all render that same dict, so the three never disagree.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone

from analytics import metrics
from analytics.metrics import Filters, inbox_url
from analytics.models import InsightRun, SpikeAlert, TopicCluster
from helpdesk.accounts import is_manager
from helpdesk.decorators import manager_required
from inbox.models import Account, Channel, Plan

PAGES = {
    "overview": "Overview", "intents": "Intents", "cohorts": "Cohorts", "topics": "Topics & spikes",
    "knowledge": "Knowledge gaps & drift", "churn": "Churn risk",
}
NO_ROLLUPS = "No rollups yet: run python manage.py rollup_analytics --all (Celery beat keeps them current after that)."


# ------------------------------------------------------------------ formatting
def pct(v) -> str:
    return "—" if v is None else f"{v * 100:.1f}%"


def dur(seconds) -> str:
    if seconds is None:
        return "—"
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def num(v) -> str:
    return "—" if v is None else f"{v:,}" if isinstance(v, int) else str(v)


def csat(v) -> str:
    return "—" if v is None else f"{v:.2f}"


Col = tuple[str, str, Callable, Callable | None]  # key, heading, formatter, link(row) -> url | None


def table(name: str, title: str, cols: list[Col], rows: list[dict], empty: str) -> dict:
    """A table every renderer understands: raw values (CSV/JSON), display text and drill-down links."""
    out_rows = []
    for row in rows:
        cells = []
        for key, _, fmt, link in cols:
            value = row.get(key)
            cells.append({"key": key, "v": value, "text": fmt(value), "href": (link(row) if link else None) or None})
        out_rows.append(cells)
    return {"name": name, "title": title, "keys": [c[0] for c in cols], "columns": [c[1] for c in cols],
            "rows": out_rows, "empty": empty}


# ------------------------------------------------------------------ page builders
def _trend_cols(f: Filters) -> list[Col]:
    return [
        ("period", "Day" if f.grain == "day" else "Week of", str, None),
        ("conversations", "Conversations", num, None),
        ("ai_involvement", "AI involvement", pct, None),
        ("ai_resolution", "AI resolution", pct, None),
        ("escalation_rate", "Escalation", pct, None),
        ("fcr", "First-contact resolution", pct, None),
        ("csat_avg", "CSAT", csat, None),
        ("avg_first_response_s", "Avg first response", dur, None),
    ]


def build_overview(f: Filters) -> dict:
    trend = metrics.trend(f)  # the one rollup scan; tiles, reasons and the curve derive from it
    k = metrics.totals(trend)
    curve = metrics.improvement_curve(f, weekly=trend if f.grain == "week" else None)
    reasons = metrics.reasons_from(trend)
    drill = f.inbox("resolved")
    tiles = [
        {"key": "conversations", "label": "Conversations", "value": k["conversations"], "text": num(k["conversations"]),
         "href": drill},
        {"key": "ai_involvement", "label": "AI involvement", "value": k["ai_involvement"],
         "text": pct(k["ai_involvement"]), "detail": f"{k['ai_involved']:,} with an AI reply", "href": drill},
        {"key": "ai_resolution", "label": "AI resolution", "value": k["ai_resolution"], "text": pct(k["ai_resolution"]),
         "detail": f"{k['ai_resolved']:,} resolved by AI alone", "href": drill},
        {"key": "escalation_rate", "label": "Escalation", "value": k["escalation_rate"],
         "text": pct(k["escalation_rate"]), "detail": f"{k['escalated']:,} reached a human", "href": drill},
        {"key": "fcr", "label": "First-contact resolution", "value": k["fcr"], "text": pct(k["fcr"]), "href": drill},
        {"key": "csat", "label": "CSAT", "value": k["csat_avg"], "text": csat(k["csat_avg"]),
         "detail": f"{k['csat_count']:,} ratings", "href": drill},
        {"key": "first_response", "label": "Avg first response", "value": k["avg_first_response_s"],
         "text": dur(k["avg_first_response_s"]), "href": drill},
    ]
    labels = [r["period"] for r in trend]
    reason_keys = [r["reason"] for r in reasons]
    charts = {
        "trend": {"labels": labels, "series": {
            "AI resolution": [r["ai_resolution"] for r in trend],
            "Escalation": [r["escalation_rate"] for r in trend],
            "AI involvement": [r["ai_involvement"] for r in trend]}},
        "csat": {"labels": labels, "series": {"CSAT": [r["csat_avg"] for r in trend]}},
        "reasons": {"labels": labels, "series": {
            metrics.REASON_LABELS[k]: [r["reasons"].get(k, 0) for r in trend] for k in reason_keys}},
        "improvement": curve,
    }
    alerts = [{
        "topic": a.cluster.label, "day": a.day.isoformat(), "count": a.count, "baseline_mean": a.baseline_mean,
        "baseline_sd": a.baseline_sd, "p_value": a.p_value, "intent": a.cluster.intent,
        "href": inbox_url("open", intent=a.cluster.intent) if a.cluster.intent else "/analytics/topics/",
        "example": (a.cluster.examples or [{}])[0].get("text", ""),
    } for a in SpikeAlert.objects.select_related("cluster")[:10]]
    return {
        "tiles": tiles, "charts": charts, "alerts": alerts,
        "tables": [
            table("trend", "Trend", _trend_cols(f), trend, NO_ROLLUPS),
            table("reasons", "Escalation reasons", [
                ("label", "Reason", str, None), ("count", "Escalations", num, None), ("share", "Share", pct, None),
            ], reasons, "No escalations in this window."),
            table("model_versions", "Intent model versions (improvement curve)", [
                ("id", "Version", str, None), ("trained_at", "Trained", lambda v: (v or "")[:16].replace("T", " "),
                                               None),
                ("holdout_accuracy", "Holdout accuracy", pct, None), ("n_examples", "Examples", num, None),
                ("status", "Status", str, None),
            ], curve["versions"], "No intent model versions yet: the agents app trains one as labels arrive."),
        ],
    }


def _rate_cols(f: Filters, link: Callable | None) -> list[Col]:
    return [
        ("conversations", "Conversations", num, link),
        ("ai_involvement", "AI involvement", pct, None),
        ("ai_resolution", "AI resolution", pct, link),
        ("deflection", "Deflection", pct, None),
        ("escalation_rate", "Escalation", pct, link),
        ("fcr", "First-contact resolution", pct, link),
        ("csat_avg", "CSAT", csat, None),
    ]


def build_intents(f: Filters) -> dict:
    def intent_link(row):
        return f.inbox("resolved", intent=row["intent"]) if row.get("intent") else None

    rows = metrics.by_intent(f)
    for r in rows:
        r["intent_label"] = r["intent"] or "(none)"
    intents = table("intents", "By intent", [("intent_label", "Intent", str, intent_link), *_rate_cols(f, intent_link)],
                    rows, NO_ROLLUPS)
    areas = table("areas", "Deflection by category (knowledge area)", [
        ("area", "Area", lambda v: v or "(unknown)", None), ("conversations", "Conversations", num, None),
        ("deflected", "Deflected", num, None), ("deflection", "Deflection", pct, None),
        ("ai_resolution", "AI resolution", pct, None), ("escalation_rate", "Escalation", pct, None),
    ], metrics.by_area(f), "No data for this filter (areas are not kept per account).")
    top = rows[:15]
    charts = {"intents": {"labels": [r["intent_label"] for r in top], "series": {
        "AI resolution": [r["ai_resolution"] for r in top], "Escalation": [r["escalation_rate"] for r in top]}}}
    return {"tables": [intents, areas], "charts": charts}


def build_cohorts(f: Filters) -> dict:
    c = metrics.cohorts(f)

    def cols(key, heading, link=None) -> list[Col]:
        return [
            (key, heading, lambda v: v or "(none)", link), ("conversations", "Conversations", num, link),
            ("avg_first_response_s", "Avg time to first response", dur, None),
            ("avg_resolution_s", "Avg time to resolution", dur, None),
            ("ai_resolution", "AI resolution", pct, None), ("csat_avg", "CSAT", csat, None),
        ]

    def plan_link(row):
        return f.inbox("resolved", plan=row["plan"]) if row.get("plan") in Plan.values else None

    charts = {
        "plan": {"labels": [r["plan"] for r in c["plan"]], "series": {
            "First response (min)": [_minutes(r["avg_first_response_s"]) for r in c["plan"]],
            "Resolution (min)": [_minutes(r["avg_resolution_s"]) for r in c["plan"]]}},
        "tenure": {"labels": [r["tenure"] for r in c["tenure"]], "series": {
            "First response (min)": [_minutes(r["avg_first_response_s"]) for r in c["tenure"]],
            "Resolution (min)": [_minutes(r["avg_resolution_s"]) for r in c["tenure"]]}},
    }
    return {"charts": charts, "intent_ignored": bool(f.intent), "tables": [
        table("plan", "By plan", cols("plan", "Plan", plan_link), c["plan"], NO_ROLLUPS),
        table("tenure", "By account tenure", cols("tenure", "Tenure"), c["tenure"], NO_ROLLUPS),
        table("segment", "By segment", cols("segment", "Segment"), c["segment"], NO_ROLLUPS),
    ]}


def _minutes(seconds):
    return None if seconds is None else round(seconds / 60, 1)


def build_topics(f: Filters) -> dict:
    clusters = list(TopicCluster.objects.prefetch_related("alerts")[:200])
    rows = []
    for c in clusters:
        counts = [n for _, n in c.daily_counts]
        rows.append({
            "label": c.label, "intent": c.intent, "size": c.size, "last_7_days": sum(counts[-7:]),
            "yesterday": counts[-2] if len(counts) > 1 else 0, "today": counts[-1] if counts else 0,
            "spike": "yes" if c.alerts.all() else "", "examples": [e["text"] for e in c.examples[:3]],
            "example_links": [f"/inbox/c/{e['conversation_id']}/" for e in c.examples[:3]],
        })
    alerted = [c for c in clusters if c.alerts.all()][:5]
    charts = {"spikes": {"labels": [d for d, _ in alerted[0].daily_counts] if alerted else [],
                         "series": {c.label: [n for _, n in c.daily_counts] for c in alerted}}}

    def intent_link(row):
        return inbox_url("resolved", intent=row["intent"]) if row.get("intent") else None

    run = InsightRun.objects.filter(kind="topics").first()
    empty = ("No topics yet: run python manage.py rollup_analytics --insights (Celery refreshes them hourly)."
             if run is None else "No recent customer questions in the last 28 days.")
    return {"run": run, "charts": charts, "tables": [
        table("topics", "Topics in the last 28 days", [
            ("label", "Topic", str, None), ("intent", "Nearest intent", lambda v: v or "—", intent_link),
            ("size", "Questions (28 days)", num, intent_link), ("last_7_days", "Last 7 days", num, None),
            ("yesterday", "Yesterday", num, None), ("today", "Today", num, None), ("spike", "Spike", str, None),
            ("examples", "Example questions", lambda v: " | ".join(v or []), None),
        ], rows, empty),
    ], "alerts": build_overview_alerts()}


def build_overview_alerts() -> list[dict]:
    return [{"topic": a.cluster.label, "day": a.day.isoformat(), "count": a.count,
             "baseline_mean": a.baseline_mean, "intent": a.cluster.intent}
            for a in SpikeAlert.objects.select_related("cluster")[:20]]


def build_knowledge(f: Filters) -> dict:
    run = InsightRun.objects.filter(kind="knowledge").first()
    detail = run.detail if run else {"gaps": [], "drift": []}
    empty = ("Not computed yet: run python manage.py rollup_analytics --insights (Celery refreshes it hourly)."
             if run is None else None)
    gaps = table("gaps", "Knowledge gaps (last 30 days)", [
        ("group", "Topic / intent", str, lambda r: r.get("inbox_url")),
        ("count", "Unanswered", num, lambda r: r.get("inbox_url")),
        ("missing_knowledge", "Missing knowledge", num, None), ("low_confidence", "Low confidence", num, None),
        ("not_helpful", "Not helpful", num, None),
        ("examples", "Example questions", lambda v: " | ".join(v or []), None),
        ("kb_url", "Action", lambda v: "Write an article", lambda r: r.get("kb_url")),
    ], detail.get("gaps", []), empty or "No gaps: every question in the last 30 days had an answer.")
    drift = table("drift", "Knowledge drift (last 14 days vs earlier)", [
        ("title", "Article", str, lambda r: r.get("edit_url")),
        ("history_rate", "Earlier resolution", pct, None), ("history_n", "Earlier replies", num, None),
        ("recent_rate", "Last 14 days", pct, None), ("recent_n", "Recent replies", num, None),
        ("drop", "Drop", pct, None), ("p_value", "p", lambda v: f"{v:.4f}" if v is not None else "—", None),
        ("kb_url", "Action", lambda v: "Draft a replacement", lambda r: r.get("kb_url")),
    ], detail.get("drift", []), empty or "No drift: no article's resolution rate fell clearly in the last 14 days.")
    return {"run": run, "tables": [gaps, drift]}


def build_churn(f: Filters) -> dict:
    rows = metrics.churn_risk()
    return {"tables": [table("churn", "Accounts at risk (last 30 days vs their own baseline)", [
        ("account", "Account", str, lambda r: r["open_url"]), ("plan", "Plan", str, None),
        ("mrr", "MRR", lambda v: f"{v:,.0f}", None), ("score", "Risk score", num, None),
        ("reasons", "Why", lambda v: " ".join(v or []), None),
        ("recent_conversations", "Conversations (30 days)", num, lambda r: r["resolved_url"]),
        ("open_url", "Open conversations", lambda v: "Open queue", lambda r: r["open_url"]),
    ], rows, NO_ROLLUPS if not metrics.has_rollups() else "No account shows churn signals in the last 30 days.")]}


BUILDERS = {"overview": build_overview, "intents": build_intents, "cohorts": build_cohorts,
            "topics": build_topics, "knowledge": build_knowledge, "churn": build_churn}


# ------------------------------------------------------------------ rendering
def _csv(page: str, data: dict, which: str | None) -> HttpResponse:
    tables = {t["name"]: t for t in data["tables"]}
    chosen = tables.get(which) if which else data["tables"][0]
    if chosen is None:
        raise Http404("No such table")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d")
    response["Content-Disposition"] = f'attachment; filename="analytics-{page}-{chosen["name"]}-{stamp}.csv"'
    writer = csv.writer(response)
    writer.writerow(chosen["keys"])
    for row in chosen["rows"]:
        writer.writerow([_csv_cell(c["v"]) for c in row])
    return response


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value):
    """Customer text (intents, account names, topics) can start with `=`; a spreadsheet would run
    it as a formula. A leading quote makes it plain text; numbers are left as numbers."""
    if isinstance(value, list):
        value = "; ".join(map(str, value))
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _jsonable(data: dict, f: Filters) -> dict:
    out = {"filters": {**f.as_params(), "start": f.start.isoformat(), "end": f.today.isoformat()}}
    for key, value in data.items():
        if key == "tables":
            out["tables"] = {t["name"]: {
                "title": t["title"], "columns": t["keys"],
                "rows": [dict(zip(t["keys"], (c["v"] for c in row), strict=True)) for row in t["rows"]],
                "links": [dict(zip(t["keys"], (c["href"] for c in row), strict=True)) for row in t["rows"]],
            } for t in value}
        elif key == "run":
            out["run"] = {"finished_at": value.finished_at.isoformat(), "seconds": value.seconds} if value else None
        else:
            out[key] = value
    return out


def _page(request, page: str):
    f = Filters.from_params(request.GET)
    data = BUILDERS[page](f)
    if request.GET.get("format") == "csv":
        return _csv(page, data, request.GET.get("table"))
    context = {
        **data, "page": page, "pages": PAGES, "title": PAGES[page], "filters": f, "has_rollups": metrics.has_rollups(),
        "channels": Channel.choices, "plans": Plan.choices, "day_choices": [7, 14, 30, 90, 180, 365],
        "accounts": Account.objects.order_by("name").values("id", "name")[:500],
        "intents": _intent_names(), "query": f.as_params(), "no_rollups": NO_ROLLUPS,
    }
    return render(request, f"analytics/{page}.html", context)


def _intent_names() -> list[str]:
    from agents.models import Intent

    return list(Intent.objects.order_by("name").values_list("name", flat=True)[:500])


def api_manager_required(view):
    """Like manager_required, but an API answers 401/403 JSON instead of redirecting to a login page."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return JsonResponse({"detail": "Sign in as a manager."}, status=401)
        if not is_manager(request.user):
            raise PermissionDenied("This API is for managers.")
        return view(request, *args, **kwargs)

    return wrapped


@manager_required
def overview(request):
    return _page(request, "overview")


@manager_required
def intents(request):
    return _page(request, "intents")


@manager_required
def cohorts(request):
    return _page(request, "cohorts")


@manager_required
def topics(request):
    return _page(request, "topics")


@manager_required
def knowledge(request):
    return _page(request, "knowledge")


@manager_required
def churn(request):
    return _page(request, "churn")


@api_manager_required
def api(request, page: str):
    if page not in BUILDERS:
        raise Http404("No such report")
    if request.method != "GET":
        return JsonResponse({"detail": "Read-only."}, status=405)
    f = Filters.from_params(request.GET)
    return JsonResponse(_jsonable(BUILDERS[page](f), f), json_dumps_params={"default": _default})


def _default(value):
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise TypeError(type(value))
