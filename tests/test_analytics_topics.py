"""Topic clusters and spike alerts: an injected spike is flagged, a steady stream is not."""

import datetime as dt

import numpy as np
import pytest
from django.utils import timezone

from analytics.models import SpikeAlert, TopicCluster
from analytics.topics import detect_spike, refresh_topics
from tests import test_analytics_support as s

STEADY = {
    "invoices": ["Where can I download my invoices?", "How do I get a copy of last month's invoice?"],
    "slack": ["Slack notifications stopped arriving", "Our Slack alerts are delayed by hours"],
    "password": ["How do I reset my password?", "I forgot my password and can't log in"],
}
SPIKE = ["The PDF export button crashes the app", "Exporting a report to PDF makes the app crash",
         "App crashes every time I export to PDF", "PDF export crashed again", "Crash when exporting PDF report"]


def test_a_steady_poisson_stream_is_never_flagged():
    rng = np.random.default_rng(1)
    flagged = [detect_spike(rng.poisson(3, 29)) for _ in range(500)]
    assert sum(bool(f) for f in flagged) == 0


def test_an_injected_spike_is_flagged_on_the_day_it_happens():
    counts = [2, 3, 1, 2, 2, 3, 2, 1, 2, 3, 2, 2, 1, 3, 2, 2, 3, 2, 1, 2, 2, 3, 2, 2, 1, 3, 2, 2, 14]
    (alert,) = detect_spike(counts)
    assert alert["index"] == len(counts) - 1 and alert["count"] == 14 and alert["p_value"] < 0.001


def test_a_small_bump_on_a_quiet_topic_is_not_a_spike():
    assert detect_spike([0] * 27 + [0, 3]) == []  # below the minimum count


@pytest.mark.django_db
def test_refresh_clusters_recent_questions_and_flags_only_the_new_topic(db):
    cust = s.customer(s.account("Acme", "growth", 400), "pat@acme.example")
    # Noon: the spike's twelve questions (the last 21 minutes) all fall on the day refreshed, whenever
    # the suite runs; near midnight they straddled two days.
    now = timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0)
    for days_ago in range(1, 28):
        for topic, texts in STEADY.items():
            s.convo(cust, now - dt.timedelta(days=days_ago, hours=1), intent=topic,
                    question=texts[days_ago % 2])
    for i in range(12):
        s.convo(cust, now - dt.timedelta(minutes=10 + i), intent="", question=SPIKE[i % len(SPIKE)])
    detail = refresh_topics(now)
    assert detail["questions"] == 27 * 3 + 12
    labels = {c.intent or c.label: c for c in TopicCluster.objects.all()}
    assert {"invoices", "slack", "password"} <= set(labels)
    (alert,) = SpikeAlert.objects.all()
    assert "pdf" in alert.cluster.label.lower() or "export" in alert.cluster.label.lower()
    assert alert.count == 12 and alert.day == timezone.localdate(now)
    assert any("PDF" in e["text"] for e in alert.cluster.examples)
    refresh_topics(now)  # a refresh replaces the snapshot rather than piling up
    assert SpikeAlert.objects.count() == 1


@pytest.mark.django_db
def test_a_large_window_is_thinned_evenly_across_days_not_cut_at_the_newest(db):
    from analytics.topics import recent_questions

    cust = s.customer(s.account("Acme", "growth", 400), "pat@acme.example")
    now = timezone.now()
    for days_ago in range(1, 11):
        for i in range(3):
            s.convo(cust, now - dt.timedelta(days=days_ago, minutes=i), question=f"question {days_ago}-{i}")
    sample = recent_questions(now, limit=10)
    assert 8 <= len(sample) <= 12
    assert len({q.created_at.date() for q in sample}) >= 7  # spread over the window, not the last 3 days


@pytest.mark.django_db
def test_the_insight_task_refreshes_topics_and_knowledge_snapshots(db):
    from analytics.models import InsightRun
    from analytics.tasks import refresh_insights

    cust = s.customer(s.account("Acme", "growth", 400), "pat@acme.example")
    for i in range(4):
        s.convo(cust, timezone.now() - dt.timedelta(hours=i + 1), intent="sso", ai=False,
                reason="missing_knowledge", agent_reply=True, question="How do I set up SAML single sign-on?")
    out = refresh_insights()
    assert out["topics"]["questions"] == 4 and out["knowledge"]["gaps"] == 1
    assert set(InsightRun.objects.values_list("kind", flat=True)) == {"topics", "knowledge"}
