"""Every metric on the analytics pages, checked against five conversations counted by hand.

c1 Acme (growth, 400 days old, Agency), chat, billing_refund, AI answered and resolved, CSAT 5
c2 Acme, chat, billing_refund, AI answered, escalated (billing_error), an agent resolved it, CSAT 2
c3 Bolt (free, 30 days old), email, login_help, no AI, escalated (missing_knowledge), CSAT 4
c4 Bolt, chat, login_help, AI answered and it was resolved — but c5 followed up on it
c5 Bolt, chat, login_help, a follow-up of c4, AI answered, the customer abandoned
"""

import datetime as dt

import pytest

from agents.models import ModelVersion
from analytics import metrics
from analytics.metrics import Filters
from analytics.rollups import recompute_days
from tests import test_analytics_support as s

pytestmark = pytest.mark.django_db


@pytest.fixture
def five(db):
    acme = s.account("Acme", "growth", 400, industry="Agency")
    bolt = s.account("Bolt", "free", 30, industry="Software")
    pat, kim = s.customer(acme, "pat@acme.example"), s.customer(bolt, "kim@bolt.example")
    billing = s.article("Refunds", "billing")
    login = s.article("Signing in", "account-admin")
    at = s.day_at(3)
    c1 = s.convo(pat, at, intent="billing_refund", art=billing, csat=5, frt=2, res=600)
    c2 = s.convo(pat, at, intent="billing_refund", art=billing, reason="billing_error", agent_reply=True, csat=2,
                 frt=2, res=3600)
    c3 = s.convo(kim, at, intent="login_help", channel="email", ai=False, reason="missing_knowledge",
                 agent_reply=True, csat=4, frt=1200, res=7200)
    c4 = s.convo(kim, at, intent="login_help", art=login, frt=3, res=300)
    c5 = s.convo(kim, at + dt.timedelta(hours=1), intent="login_help", art=login, status="closed", abandoned=True,
                 frt=3, follow_up_of=c4)
    recompute_days([at.date()])
    return {"acme": acme, "bolt": bolt, "day": at.date(), "c": [c1, c2, c3, c4, c5]}


def test_overview_totals_count_each_conversation_once(five):
    k = metrics.kpis(Filters())
    assert k["conversations"] == 5
    assert k["ai_involved"] == 4 and k["ai_involvement"] == 0.8
    assert k["ai_resolved"] == 1 and k["ai_resolution"] == 0.2  # only c1: c4 was followed up
    assert k["deflected"] == 3  # c1, c4, c5 never reached a human
    assert k["escalated"] == 2 and k["escalation_rate"] == 0.4
    assert k["resolved"] == 4 and k["first_contact_resolved"] == 3 and k["fcr"] == 0.75
    assert k["follow_ups"] == 1 and k["abandoned"] == 1 and k["billing"] == 2
    assert k["csat_count"] == 3 and k["csat_avg"] == pytest.approx(11 / 3, abs=0.01)
    assert k["avg_first_response_s"] == pytest.approx((2 + 2 + 1200 + 3 + 3) / 5, abs=0.1)
    assert k["avg_resolution_s"] == pytest.approx((600 + 3600 + 7200 + 300) / 4, abs=0.1)


def test_escalation_reasons_are_counted_per_reason(five):
    reasons = {r["reason"]: r["count"] for r in metrics.escalation_reasons(Filters())}
    assert reasons == {"billing_error": 1, "missing_knowledge": 1}
    (period,) = metrics.trend(Filters(grain="day"))
    assert period["period"] == five["day"].isoformat()
    assert period["reasons"] == {"billing_error": 1, "missing_knowledge": 1}


def test_weekly_trend_buckets_by_monday(five):
    (week,) = metrics.trend(Filters(grain="week"))
    monday = five["day"] - dt.timedelta(days=five["day"].weekday())
    assert week["period"] == monday.isoformat() and week["conversations"] == 5


def test_filters_narrow_by_channel_plan_intent_and_account(five):
    assert metrics.kpis(Filters(channel="email"))["conversations"] == 1
    assert metrics.kpis(Filters(plan="growth"))["conversations"] == 2
    assert metrics.kpis(Filters(intent="login_help"))["conversations"] == 3
    acme = metrics.kpis(Filters(account=five["acme"].pk))
    assert acme["conversations"] == 2 and acme["ai_resolved"] == 1 and acme["escalated"] == 1
    assert metrics.kpis(Filters(account=five["bolt"].pk, intent="login_help"))["follow_ups"] == 1


def test_first_contact_resolution_escalation_and_deflection_by_intent(five):
    rows = {r["intent"]: r for r in metrics.by_intent(Filters())}
    assert rows["billing_refund"]["conversations"] == 2
    assert rows["billing_refund"]["escalation_rate"] == 0.5 and rows["billing_refund"]["fcr"] == 1.0
    assert rows["billing_refund"]["deflection"] == 0.5
    assert rows["login_help"]["conversations"] == 3 and rows["login_help"]["ai_resolved"] == 0
    assert rows["login_help"]["fcr"] == 0.5  # c3 yes, c4 no (followed up); c5 never resolved
    assert rows["login_help"]["deflection"] == pytest.approx(2 / 3, abs=1e-3)


def test_deflection_by_category_uses_the_article_area(five):
    areas = {r["area"]: r for r in metrics.by_area(Filters())}
    assert areas["billing"]["conversations"] == 2 and areas["billing"]["deflected"] == 1
    assert areas["account-admin"]["deflected"] == 2  # c4 and c5; c3 had no AI reply and no page area
    assert areas[""]["conversations"] == 1


def test_response_and_resolution_times_by_plan_tenure_and_segment(five):
    c = metrics.cohorts(Filters())
    plan = {r["plan"]: r for r in c["plan"]}
    assert plan["growth"]["avg_first_response_s"] == 2.0 and plan["growth"]["avg_resolution_s"] == 2100.0
    assert plan["free"]["avg_first_response_s"] == 402.0 and plan["free"]["avg_resolution_s"] == 3750.0
    tenure = {r["tenure"]: r["conversations"] for r in c["tenure"]}
    assert tenure == {"<3m": 3, "1-2y": 2}
    assert {r["segment"]: r["conversations"] for r in c["segment"]} == {"Software": 3, "Agency": 2}


def test_improvement_curve_lists_model_versions_in_training_order(five):
    old = ModelVersion.objects.create(kind="intent", n_examples=10, metrics={"holdout_accuracy": 0.61}, blob=b"")
    new = ModelVersion.objects.create(kind="intent", n_examples=30, metrics={"holdout_accuracy": 0.83}, blob=b"",
                                      status="live")
    ModelVersion.objects.create(kind="escalation", n_examples=5, metrics={"holdout_accuracy": 0.5}, blob=b"")
    ModelVersion.objects.filter(pk=old.pk).update(trained_at=s.day_at(20))
    curve = metrics.improvement_curve(Filters())
    assert [v["id"] for v in curve["versions"]] == [old.pk, new.pk]
    assert [v["holdout_accuracy"] for v in curve["versions"]] == [0.61, 0.83]
    assert curve["weekly_ai_resolution"][-1]["ai_resolution"] == 0.2


def test_empty_windows_show_no_rate_rather_than_zero(db):
    k = metrics.kpis(Filters())
    assert k["conversations"] == 0 and k["ai_resolution"] is None and k["csat_avg"] is None
