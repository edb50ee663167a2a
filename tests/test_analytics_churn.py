"""Churn-risk early warning: a score built from support signals, with the reasons in words."""

import datetime as dt

import pytest
from django.utils import timezone

from analytics.metrics import churn_risk
from analytics.rollups import all_days, recompute_days
from tests import test_analytics_support as s

pytestmark = pytest.mark.django_db


def test_an_account_with_every_warning_sign_gets_every_reason_and_a_link_to_its_conversations(db):
    risky = s.account("Risky Co", "growth", 600)
    calm = s.account("Calm Co", "growth", 600)
    r, c = s.customer(risky, "r@risky.example"), s.customer(calm, "c@calm.example")
    billing = s.article("Invoices", "billing")
    now = timezone.now()
    for days_ago in (100, 80, 60):  # baseline: one quiet contact a month each
        s.convo(r, now - dt.timedelta(days=days_ago), intent="howto")
        s.convo(c, now - dt.timedelta(days=days_ago), intent="howto")
    first = s.convo(r, now - dt.timedelta(days=20), intent="invoice", art=billing, reason="billing_error",
                    agent_reply=True, csat=1)
    s.convo(r, now - dt.timedelta(days=15), intent="invoice", art=billing, reason="billing_error", agent_reply=True,
            csat=2, follow_up_of=first)
    s.convo(r, now - dt.timedelta(days=10), intent="invoice", art=billing, reason="angry_customer",
            agent_reply=True, follow_up_of=first)
    s.convo(r, now - dt.timedelta(days=5), intent="invoice", art=billing, csat=2)
    s.convo(c, now - dt.timedelta(days=5), intent="howto", csat=5)
    recompute_days(all_days())

    (flagged,) = churn_risk()
    assert flagged["account_id"] == risky.pk and flagged["score"] == 100
    words = " ".join(flagged["reasons"])
    assert "Contact rate rising: 4 conversations" in words
    assert "Repeated contacts about the same issue: 2 follow-ups" in words
    assert "Low CSAT: average 1.7 over 3 ratings" in words
    assert "Billing questions: 4 of 4" in words
    assert "Escalations: 3 of 4" in words
    assert flagged["open_url"] == f"/inbox/?queue=open&account={risky.pk}"
    assert flagged["resolved_url"] == f"/inbox/?queue=resolved&account={risky.pk}"


def test_a_churned_account_and_a_steady_one_are_not_listed(db):
    gone = s.account("Gone Co", "free", 600, )
    gone.churned_at = timezone.now()
    gone.save()
    cust = s.customer(gone, "g@gone.example")
    for days_ago in range(1, 10):
        s.convo(cust, timezone.now() - dt.timedelta(days=days_ago), csat=1)
    recompute_days(all_days())
    assert churn_risk() == []
