"""Rollups are incremental: one day at a time, and late changes land on the day they belong to."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from analytics.models import DailyRollup, RollupState
from analytics.rollups import incremental_update, recompute_day, recompute_days
from analytics.tasks import rollup_days
from inbox.models import Conversation, Outcome
from tests import test_analytics_support as s

pytestmark = pytest.mark.django_db


def total(day, field="conversations"):
    return sum(getattr(r, field) for r in DailyRollup.objects.filter(day=day, level="base"))


@pytest.fixture
def two_days(db):
    acct = s.account("Acme", "growth", 400)
    cust = s.customer(acct, "pat@acme.example")
    d1, d2 = s.day_at(5), s.day_at(4)
    s.convo(cust, d1, intent="a")
    s.convo(cust, d2, intent="b")
    recompute_days([d1.date(), d2.date()])
    return cust, d1, d2


def test_each_day_is_written_at_three_levels(two_days):
    _, d1, _ = two_days
    assert set(DailyRollup.objects.filter(day=d1.date()).values_list("level", flat=True)) == {
        "base", "cohort", "account"}


def test_recomputing_one_day_leaves_the_other_days_untouched(two_days):
    cust, d1, d2 = two_days
    before = list(DailyRollup.objects.filter(day=d2.date()).values_list("id", "updated_at", "conversations"))
    s.convo(cust, d2 + dt.timedelta(hours=1), intent="b")  # new data on day 2, but only day 1 is recomputed
    recompute_day(d1.date())
    after = list(DailyRollup.objects.filter(day=d2.date()).values_list("id", "updated_at", "conversations"))
    assert after == before and total(d2.date()) == 1
    recompute_day(d2.date())
    assert total(d2.date()) == 2 and total(d1.date()) == 1


def test_a_corrected_intent_leaves_no_stale_group_behind(two_days):
    _, d1, _ = two_days
    Conversation.objects.filter(created_at=d1).update(intent="corrected")
    recompute_day(d1.date())
    intents = set(DailyRollup.objects.filter(day=d1.date(), level="base").values_list("intent", flat=True))
    assert intents == {"corrected"}


def test_a_late_rating_on_a_past_day_is_picked_up_by_the_incremental_run(two_days):
    _, d1, d2 = two_days
    RollupState.objects.create(name="rollup", watermark=timezone.now() - dt.timedelta(hours=1))
    convo = Conversation.objects.get(created_at=d1)
    convo.csat = 1
    convo.save(update_fields=["csat"])
    Outcome.objects.create(conversation=convo, kind="csat", reward=-1, value={"score": 1}, created_at=timezone.now())
    days = incremental_update()
    assert d1.date() in days and d2.date() not in days  # day 2 had no change
    assert total(d1.date(), "csat_count") == 1 and total(d1.date(), "csat_low") == 1


def test_a_late_follow_up_reopens_the_earlier_day(two_days):
    cust, d1, _ = two_days
    RollupState.objects.create(name="rollup", watermark=timezone.now() - dt.timedelta(hours=1))
    earlier = Conversation.objects.get(created_at=d1)
    assert total(d1.date(), "first_contact_resolved") == 1
    s.convo(cust, timezone.now() - dt.timedelta(minutes=1), intent="a", follow_up_of=earlier)
    assert d1.date() in incremental_update()
    assert total(d1.date(), "first_contact_resolved") == 0 and total(d1.date(), "ai_resolved") == 0


def test_the_first_incremental_run_covers_yesterday_and_today_and_sets_the_watermark(db):
    today = timezone.localdate()
    assert incremental_update() == [today - dt.timedelta(days=1), today]
    assert RollupState.objects.get(name="rollup").watermark is not None


def test_the_command_rebuilds_every_day_and_the_task_recomputes_given_days(two_days):
    _, d1, d2 = two_days
    DailyRollup.objects.all().delete()
    call_command("rollup_analytics", "--all", verbosity=0)
    assert total(d1.date()) == 1 and total(d2.date()) == 1
    DailyRollup.objects.filter(day=d2.date()).delete()
    rollup_days([d2.date().isoformat()])
    assert total(d2.date()) == 1
    call_command("rollup_analytics", "--days", "2", verbosity=0)  # today + yesterday: nothing there, no error


def test_spam_is_left_out(two_days):
    cust, d1, _ = two_days
    Conversation.objects.filter(created_at=d1).update(is_spam=True)
    recompute_day(d1.date())
    assert total(d1.date()) == 0
