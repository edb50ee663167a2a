"""Celery tasks: keep rollups current and refresh the insight snapshots.

Beat runs `rollup_recent` every 10 minutes (yesterday, today, and days touched by late changes)
and `refresh_insights` hourly (topics and spikes, knowledge gaps and drift).
"""

import datetime as dt

from celery import shared_task


@shared_task(name="analytics.tasks.rollup_recent")
def rollup_recent() -> list[str]:
    from analytics.rollups import incremental_update

    return [d.isoformat() for d in incremental_update()]


@shared_task(name="analytics.tasks.rollup_days")
def rollup_days(days: list[str]) -> int:
    """Recompute the given ISO days only (e.g. after a bulk import or a data fix)."""
    from analytics.rollups import recompute_days

    return recompute_days(dt.date.fromisoformat(d) for d in days)


@shared_task(name="analytics.tasks.refresh_insights")
def refresh_insights() -> dict:
    from analytics.insights import refresh_knowledge
    from analytics.topics import refresh_topics

    topics = refresh_topics()  # first: gaps are grouped by these clusters
    return {"topics": topics, "knowledge": refresh_knowledge()}
