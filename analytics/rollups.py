"""Incremental daily rollups: one grouped INSERT … SELECT … ON CONFLICT per day.

Every conversation is attributed to the day it was created (in TIME_ZONE). Recomputing a
day replaces exactly that day's rows and touches no other day, so a late change (a CSAT
rating, a follow-up, a resolution) is picked up by recomputing the day it belongs to.
`dirty_days` finds those days from what changed since the last run.

Definitions (one place, used by every page, the API and the tests):
- ai_involved: the conversation has at least one AI reply.
- escalated: it reached a human — an escalation reason, handled_by=human, or an agent reply.
- ai_resolved: AI involved, resolved, not escalated, not abandoned, and no follow-up on it.
- deflected: AI involved and never reached a human (whatever the final status).
- first_contact_resolved: resolved, not abandoned, not itself a follow-up and nobody followed up.
- billing: the question was about billing (article area, or the page the customer was on).
- tenure: account age when the conversation started: <3m, 3-12m, 1-2y, 2y+ ("none": no account).
- segment: the account's attributes.segment, else attributes.industry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from analytics.models import RollupState
from inbox.models import EscalationReason

_REASONS = ", ".join(
    f"'{r}', NULLIF(count(*) FILTER (WHERE escalation_reason = '{r}'), 0)" for r in EscalationReason.values
)

_MEASURES = [
    "conversations", "ai_involved", "ai_resolved", "deflected", "escalated", "escalation_reasons", "resolved",
    "first_contact_resolved", "follow_ups", "abandoned", "billing", "first_response_sum", "first_response_count",
    "resolution_sum", "resolution_count", "csat_sum", "csat_count", "csat_low",
]
_KEY = ["day", "level", "channel", "plan", "intent", "area", "tenure", "segment", "account_id"]

ROLLUP_SQL = f"""
WITH base AS (
    SELECT c.id, c.channel, c.intent, c.status, c.abandoned, c.csat, c.follow_up_of_id,
           c.first_response_seconds, c.resolution_seconds, c.resolved_at,
           coalesce(c.escalation_reason, '') AS escalation_reason,
           coalesce(c.account_id, 0) AS account_id,
           coalesce(a.plan, 'none') AS plan,
           CASE WHEN a.id IS NULL THEN 'none'
                WHEN c.created_at - a.signed_up_at < interval '90 days' THEN '<3m'
                WHEN c.created_at - a.signed_up_at < interval '365 days' THEN '3-12m'
                WHEN c.created_at - a.signed_up_at < interval '730 days' THEN '1-2y'
                ELSE '2y+' END AS tenure,
           left(coalesce(nullif(a.attributes->>'segment', ''), a.attributes->>'industry', ''), 60) AS segment,
           left(coalesce(art.area, nullif(c.page_context->>'area', ''), ''), 20) AS area,
           ai.id IS NOT NULL AS ai,
           (c.escalation_reason <> '' OR c.handled_by = 'human'
            OR EXISTS (SELECT 1 FROM inbox_message h WHERE h.conversation_id = c.id AND h.sender_kind = 'agent'))
               AS escalated,
           EXISTS (SELECT 1 FROM inbox_conversation f WHERE f.follow_up_of_id = c.id) AS followed_up
    FROM inbox_conversation c
    LEFT JOIN inbox_account a ON a.id = c.account_id
    LEFT JOIN LATERAL (
        SELECT m.id, m.trace FROM inbox_message m
        WHERE m.conversation_id = c.id AND m.sender_kind = 'ai' ORDER BY m.id LIMIT 1
    ) ai ON true
    LEFT JOIN knowledge_article art ON art.id = (
        CASE WHEN coalesce(ai.trace->'chosen'->>'article_id', ai.trace->'chunks'->0->>'article_id') ~ '^[0-9]+$'
             THEN coalesce(ai.trace->'chosen'->>'article_id', ai.trace->'chunks'->0->>'article_id')::bigint END)
    WHERE c.created_at >= %(start)s AND c.created_at < %(end)s AND NOT c.is_spam
), flags AS (
    SELECT *,
           status IN ('resolved', 'closed') AND NOT abandoned AS is_resolved
    FROM base
)
INSERT INTO analytics_dailyrollup ({", ".join(_KEY + _MEASURES)}, updated_at)
SELECT %(day)s,
       CASE WHEN GROUPING(account_id) = 0 THEN 'account' WHEN GROUPING(tenure) = 0 THEN 'cohort' ELSE 'base' END,
       coalesce(channel, ''), coalesce(plan, ''), coalesce(intent, ''), coalesce(area, ''),
       coalesce(tenure, ''), coalesce(segment, ''), coalesce(account_id, 0),
       count(*),
       count(*) FILTER (WHERE ai),
       count(*) FILTER (WHERE ai AND is_resolved AND status = 'resolved' AND NOT escalated AND NOT followed_up),
       count(*) FILTER (WHERE ai AND NOT escalated),
       count(*) FILTER (WHERE escalated),
       jsonb_strip_nulls(jsonb_build_object({_REASONS})),
       count(*) FILTER (WHERE is_resolved),
       count(*) FILTER (WHERE is_resolved AND follow_up_of_id IS NULL AND NOT followed_up),
       count(*) FILTER (WHERE follow_up_of_id IS NOT NULL),
       count(*) FILTER (WHERE abandoned),
       count(*) FILTER (WHERE area = 'billing'),
       coalesce(sum(first_response_seconds), 0), count(first_response_seconds),
       coalesce(sum(resolution_seconds) FILTER (WHERE is_resolved), 0),
       count(resolution_seconds) FILTER (WHERE is_resolved),
       coalesce(sum(csat), 0), count(csat), count(*) FILTER (WHERE csat <= 2),
       now()
FROM flags
GROUP BY GROUPING SETS ((channel, plan, intent, area), (channel, plan, tenure, segment),
                        (account_id, plan, channel, intent))
ON CONFLICT ({", ".join(_KEY)}) DO UPDATE SET
    {", ".join(f"{m} = EXCLUDED.{m}" for m in _MEASURES)}, updated_at = EXCLUDED.updated_at
"""


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    tz = timezone.get_default_timezone() if settings.USE_TZ else None
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    return start, start + dt.timedelta(days=1)


def local_day(moment: dt.datetime) -> dt.date:
    return timezone.localtime(moment).date() if settings.USE_TZ else moment.date()


def recompute_day(day: dt.date) -> int:
    """Replace one day's rollup rows; returns how many rows the day now has.

    Delete-then-insert in one transaction removes groups that no longer exist (a conversation
    whose intent was corrected leaves its old group); ON CONFLICT keeps two workers recomputing
    the same day from failing; the advisory lock keeps them from interleaving.
    """
    start, end = day_bounds(day)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('analytics_rollup'), %s)", [day.toordinal()])
        cursor.execute("DELETE FROM analytics_dailyrollup WHERE day = %s", [day])
        cursor.execute(ROLLUP_SQL, {"day": day, "start": start, "end": end})
        return cursor.rowcount


def recompute_days(days: Iterable[dt.date], progress=None) -> int:
    total = 0
    for day in sorted(set(days)):
        total += recompute_day(day)
        if progress:
            progress(day)
    return total


def dirty_days(since: dt.datetime) -> set[dt.date]:
    """Days whose conversations changed after `since`: new messages, resolutions, outcomes, labels, follow-ups."""
    tz = str(timezone.get_default_timezone()) if settings.USE_TZ else "UTC"
    sql = """
        SELECT DISTINCT (c.created_at AT TIME ZONE %(tz)s)::date FROM inbox_conversation c
        WHERE c.id IN (
            SELECT id FROM inbox_conversation WHERE last_message_at > %(since)s OR resolved_at > %(since)s
            UNION SELECT conversation_id FROM inbox_outcome WHERE created_at > %(since)s
            UNION SELECT conversation_id FROM inbox_label WHERE created_at > %(since)s
            UNION SELECT follow_up_of_id FROM inbox_conversation
                  WHERE follow_up_of_id IS NOT NULL AND last_message_at > %(since)s
        )
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"since": since, "tz": tz})
        return {row[0] for row in cursor.fetchall()}


def all_days() -> list[dt.date]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(created_at), max(created_at) FROM inbox_conversation")
        first, last = cursor.fetchone()
    if first is None:
        return []
    start, stop = local_day(first), local_day(last)
    return [start + dt.timedelta(days=i) for i in range((stop - start).days + 1)]


def incremental_update(now: dt.datetime | None = None) -> list[dt.date]:
    """Recompute yesterday, today, and every day touched since the last run; advance the watermark.

    The new watermark is taken before reading, so a change committed during the run is seen
    again next time rather than lost (recomputing a day twice is harmless).
    """
    now = now or timezone.now()
    state = RollupState.objects.filter(name="rollup").first()
    today = local_day(now)
    days = {today, today - dt.timedelta(days=1)}
    if state is not None:
        days |= dirty_days(state.watermark - dt.timedelta(minutes=5))
    recompute_days(days)
    RollupState.objects.update_or_create(name="rollup", defaults={"watermark": now})
    return sorted(days)
