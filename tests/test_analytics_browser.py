"""A manager signs in, sees a chart with data, drills down into the inbox and downloads a CSV."""

import pytest

from analytics.rollups import recompute_days
from tests import test_analytics_support as s
from tests.conftest import make_staff, sign_in_at

pytestmark = pytest.mark.django_db(transaction=True)


def test_manager_opens_the_dashboard_drills_down_and_exports_csv(live_server, page):
    make_staff("boss@example.com", "manager", password="s3cret-pass-word")
    cust = s.customer(s.account("Acme", "growth", 400), "pat@acme.example")
    for days_ago in (9, 2):
        at = s.day_at(days_ago)
        s.convo(cust, at, intent="billing_refund", subject=f"Refund please {days_ago}", csat=4)
        s.convo(cust, at, intent="login_help", subject=f"Cannot log in {days_ago}", reason="bug", agent_reply=True)
        recompute_days([at.date()])

    sign_in_at(page, f"{live_server.url}/analytics/", "boss@example.com", "s3cret-pass-word",
               lands_on=f"{live_server.url}/analytics/")

    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('chart-trend'))")
    points = page.evaluate("() => Chart.getChart(document.getElementById('chart-trend')).data.datasets[0].data")
    assert len(points) >= 2 and all(p is not None for p in points)
    assert page.locator("[data-kpi=conversations] strong").inner_text() == "4"

    page.click("text=Intents")
    page.wait_for_url("**/analytics/intents/**")
    page.locator("#table-intents a", has_text="billing_refund").first.click()
    page.wait_for_url("**/inbox/?queue=resolved&intent=billing_refund")
    listed = page.locator("table.conversations tbody tr").all_inner_texts()
    assert len(listed) == 2 and all("Refund please" in row for row in listed)

    page.goto(f"{live_server.url}/analytics/intents/")
    with page.expect_download() as info:
        page.locator("#table-intents a.an-csv").click()
    download = info.value
    assert download.suggested_filename.startswith("analytics-intents-intents-")
    text = open(download.path(), encoding="utf-8").read()
    assert text.splitlines()[0].startswith("intent_label,conversations")
    assert any(line.startswith("billing_refund,2,") for line in text.splitlines())
