"""Knowledge gaps and knowledge drift: what the knowledge base is missing or no longer answers.

Both are snapshots written by the insight task (InsightRun.detail) so the page reads one row.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections import defaultdict
from urllib.parse import urlencode

from django.db import connection
from django.utils import timezone

from analytics.metrics import inbox_url
from analytics.models import InsightRun

GAP_DAYS = 30
DRIFT_RECENT_DAYS = 14
DRIFT_HISTORY_DAYS = 120
DRIFT_MIN_RECENT = 8
DRIFT_MIN_HISTORY = 20
DRIFT_MIN_DROP = 0.15
DRIFT_ALPHA = 0.05
SUCCESS = ("resolved", "helpful")
FAILURE = ("escalated", "follow_up", "not_helpful", "abandoned")

ARTICLE_ID_SQL = """CASE WHEN coalesce(m.trace->'chosen'->>'article_id', m.trace->'chunks'->0->>'article_id') ~ '^[0-9]+$'
    THEN coalesce(m.trace->'chosen'->>'article_id', m.trace->'chunks'->0->>'article_id')::bigint END"""


def kb_prefill_url(title: str, questions: list[str]) -> str:
    """The KB editor's new-article form, pre-filled (questions newline-separated)."""
    return "/kb/new/?" + urlencode({"prefill_title": title[:200], "prefill_questions": "\n".join(questions[:10])})


def knowledge_gaps(now: dt.datetime, days: int = GAP_DAYS) -> list[dict]:
    """Questions the AI could not answer, grouped by topic cluster (else intent), with examples.

    Counted: hand-offs for missing_knowledge or low_confidence, and AI replies rated not_helpful.
    """
    from analytics.topics import cluster_of_conversations

    sql = """
        SELECT c.id, c.intent, c.escalation_reason,
               EXISTS (SELECT 1 FROM inbox_outcome o WHERE o.conversation_id = c.id AND o.kind = 'not_helpful'),
               (SELECT m.body FROM inbox_message m WHERE m.conversation_id = c.id AND m.sender_kind = 'customer'
                ORDER BY m.id LIMIT 1)
        FROM inbox_conversation c
        WHERE c.created_at >= %s AND c.created_at <= %s AND NOT c.is_spam
          AND (c.escalation_reason IN ('missing_knowledge', 'low_confidence')
               OR EXISTS (SELECT 1 FROM inbox_outcome o WHERE o.conversation_id = c.id AND o.kind = 'not_helpful'))
        ORDER BY c.created_at DESC
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [now - dt.timedelta(days=days), now])
        rows = cursor.fetchall()
    clusters = cluster_of_conversations()
    groups: dict[tuple, dict] = {}
    for cid, intent, reason, not_helpful, body in rows:
        cluster = clusters.get(cid)
        key = ("intent", intent) if intent else (("cluster", cluster.pk) if cluster else ("intent", ""))
        g = groups.setdefault(key, {
            "group": intent.replace("_", " ") if intent else (cluster.label if cluster else "(no intent)"),
            "intent": intent, "cluster": cluster.label if cluster else "", "count": 0,
            "missing_knowledge": 0, "low_confidence": 0, "not_helpful": 0, "examples": [], "conversation_ids": [],
        })
        g["count"] += 1
        if reason in ("missing_knowledge", "low_confidence"):
            g[reason] += 1
        if not_helpful:
            g["not_helpful"] += 1
        text = (body or "").strip()
        if text and text not in g["examples"] and len(g["examples"]) < 5:
            g["examples"].append(text[:300])
        if len(g["conversation_ids"]) < 20:
            g["conversation_ids"].append(cid)
    out = sorted(groups.values(), key=lambda g: (-g["count"], g["group"]))
    for g in out:
        title = g["group"][:1].upper() + g["group"][1:]
        g["kb_url"] = kb_prefill_url(title, g["examples"])
        g["inbox_url"] = inbox_url("resolved", intent=g["intent"]) if g["intent"] else ""
    return out


def two_proportion_p(s1: int, n1: int, s2: int, n2: int) -> float:
    """One-sided p-value that rate 2 is below rate 1 (pooled z-test)."""
    if not n1 or not n2:
        return 1.0
    pooled = (s1 + s2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0 if s2 / n2 >= s1 / n1 else 0.0
    z = (s1 / n1 - s2 / n2) / se
    return 0.5 * math.erfc(z / math.sqrt(2))


def knowledge_drift(now: dt.datetime) -> list[dict]:
    """Articles whose AI resolution rate in the last 14 days fell clearly below their own history.

    An AI reply counts for the article it chose (trace.chosen.article_id, or the first cited chunk
    in older traces); success = a resolved/helpful outcome on that reply, failure = escalated,
    follow-up, not helpful or abandoned. Replies still waiting for an outcome are left out.
    Flagged when recent n ≥ 8, history n ≥ 20, the rate fell by ≥ 15 points and p < 0.05.
    """
    recent_start = now - dt.timedelta(days=DRIFT_RECENT_DAYS)
    sql = f"""
        SELECT art_id, m_recent, bool_or(o.kind = ANY(%(success)s)) AS ok, bool_or(o.kind = ANY(%(failure)s)) AS bad,
               max(first_q) AS q
        FROM (
            SELECT m.id, {ARTICLE_ID_SQL} AS art_id, m.created_at >= %(recent)s AS m_recent,
                   (SELECT q.body FROM inbox_message q WHERE q.conversation_id = m.conversation_id
                    AND q.sender_kind = 'customer' ORDER BY q.id LIMIT 1) AS first_q
            FROM inbox_message m
            WHERE m.sender_kind = 'ai' AND m.created_at >= %(history)s AND m.created_at <= %(now)s
        ) r JOIN inbox_outcome o ON o.message_id = r.id
        WHERE art_id IS NOT NULL
        GROUP BY r.id, art_id, m_recent
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"success": list(SUCCESS), "failure": list(FAILURE), "recent": recent_start,
                             "history": now - dt.timedelta(days=DRIFT_HISTORY_DAYS), "now": now})
        rows = cursor.fetchall()
    stats: dict[int, dict] = defaultdict(lambda: {"rs": 0, "rn": 0, "hs": 0, "hn": 0, "failing": []})
    for art_id, recent, ok, bad, question in rows:
        if not ok and not bad:
            continue
        success = bool(ok and not bad)
        s = stats[art_id]
        if recent:
            s["rn"] += 1
            s["rs"] += success
            if not success and question and question not in s["failing"] and len(s["failing"]) < 8:
                s["failing"].append(question.strip()[:300])
        else:
            s["hn"] += 1
            s["hs"] += success
    from knowledge.models import Article

    titles = dict(Article.objects.filter(pk__in=list(stats)).values_list("pk", "title"))
    out = []
    for art_id, s in stats.items():
        if s["rn"] < DRIFT_MIN_RECENT or s["hn"] < DRIFT_MIN_HISTORY:
            continue
        recent_rate, history_rate = s["rs"] / s["rn"], s["hs"] / s["hn"]
        p = two_proportion_p(s["hs"], s["hn"], s["rs"], s["rn"])
        if history_rate - recent_rate < DRIFT_MIN_DROP or p >= DRIFT_ALPHA:
            continue
        title = titles.get(art_id, f"Article {art_id}")
        out.append({
            "article_id": art_id, "title": title, "recent_rate": round(recent_rate, 4), "recent_n": s["rn"],
            "history_rate": round(history_rate, 4), "history_n": s["hn"], "drop": round(history_rate - recent_rate, 4),
            "p_value": round(p, 5), "failing_questions": s["failing"],
            "edit_url": f"/kb/{art_id}/edit/", "kb_url": kb_prefill_url(f"{title} (updated)", s["failing"]),
        })
    return sorted(out, key=lambda d: (-d["drop"], d["title"]))


def refresh_knowledge(now: dt.datetime | None = None) -> dict:
    now = now or timezone.now()
    started = time.monotonic()
    gaps, drift = knowledge_gaps(now), knowledge_drift(now)
    InsightRun.objects.update_or_create(kind="knowledge", defaults={
        "finished_at": timezone.now(), "seconds": round(time.monotonic() - started, 2),
        "detail": {"gaps": gaps, "drift": drift}})
    return {"gaps": len(gaps), "drift": len(drift)}
