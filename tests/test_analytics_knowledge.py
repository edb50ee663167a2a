"""Knowledge gaps (questions the AI could not answer) and drift (articles that stopped working)."""

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from analytics.insights import knowledge_drift, knowledge_gaps, refresh_knowledge
from analytics.models import InsightRun
from tests import test_analytics_support as s

pytestmark = pytest.mark.django_db


@pytest.fixture
def cust(db):
    return s.customer(s.account("Acme", "growth", 400), "pat@acme.example")


def test_gaps_group_unanswered_questions_by_intent_with_examples_and_a_prefilled_kb_link(cust):
    now = timezone.now()
    s.convo(cust, now - dt.timedelta(days=1), intent="sso_setup", ai=False, reason="missing_knowledge",
            agent_reply=True, question="How do I set up SAML with Okta?")
    s.convo(cust, now - dt.timedelta(days=2), intent="sso_setup", ai=False, reason="low_confidence",
            agent_reply=True, question="Does SSO work with Azure AD?")
    s.convo(cust, now - dt.timedelta(days=3), intent="sso_setup", outcomes=("not_helpful",),
            question="SCIM provisioning for SSO?")
    s.convo(cust, now - dt.timedelta(days=2), intent="billing", reason="billing_error", agent_reply=True)
    s.convo(cust, now - dt.timedelta(days=40), intent="sso_setup", ai=False, reason="missing_knowledge")
    (gap,) = knowledge_gaps(now)
    assert gap["intent"] == "sso_setup" and gap["count"] == 3
    assert (gap["missing_knowledge"], gap["low_confidence"], gap["not_helpful"]) == (1, 1, 1)
    assert "How do I set up SAML with Okta?" in gap["examples"]
    url = urlsplit(gap["kb_url"])
    assert url.path == "/kb/new/"
    query = parse_qs(url.query)
    assert query["prefill_title"] == ["Sso setup"]
    assert query["prefill_questions"][0].split("\n") == [
        "How do I set up SAML with Okta?", "Does SSO work with Azure AD?", "SCIM provisioning for SSO?"]
    assert gap["inbox_url"] == "/inbox/?queue=resolved&intent=sso_setup"


def _replies(cust, art, days_ago_range, ok: int, bad: int):
    days = list(days_ago_range)
    for i in range(ok + bad):
        at = timezone.now() - dt.timedelta(days=days[i % len(days)], hours=1)
        s.convo(cust, at, intent="export", art=art, question=f"export question {i}",
                outcomes=("resolved",) if i < ok else ("escalated",), reason="" if i < ok else "bug",
                agent_reply=i >= ok)


def test_drift_flags_an_article_whose_recent_resolution_rate_fell(cust):
    drifting = s.article("Exporting reports", "integrations")
    steady = s.article("Inviting teammates", "onboarding")
    _replies(cust, drifting, range(20, 80), ok=27, bad=3)  # 90% before
    _replies(cust, drifting, range(1, 14), ok=3, bad=9)  # 25% in the last 14 days
    _replies(cust, steady, range(20, 80), ok=24, bad=6)  # 80% before
    _replies(cust, steady, range(1, 14), ok=8, bad=2)  # 80% now
    (drift,) = knowledge_drift(timezone.now())
    assert drift["article_id"] == drifting.pk
    assert (drift["history_n"], drift["recent_n"]) == (30, 12)
    assert drift["history_rate"] == 0.9 and drift["recent_rate"] == 0.25 and drift["p_value"] < 0.05
    assert drift["edit_url"] == f"/kb/{drifting.pk}/edit/"
    assert drift["failing_questions"] and drift["kb_url"].startswith("/kb/new/?prefill_title=")


def test_replies_without_an_outcome_yet_do_not_count_as_failures(cust):
    art = s.article("Exporting reports", "integrations")
    _replies(cust, art, range(20, 80), ok=30, bad=0)
    for i in range(10):
        s.convo(cust, timezone.now() - dt.timedelta(days=2), intent="export", art=art, status="open",
                question=f"pending {i}")
    assert knowledge_drift(timezone.now()) == []


def test_refresh_stores_one_snapshot_the_page_reads(cust):
    refresh_knowledge()
    refresh_knowledge()
    run = InsightRun.objects.get(kind="knowledge")
    assert run.detail == {"gaps": [], "drift": []}
