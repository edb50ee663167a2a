"""Analytics pages, CSV exports and JSON API: who may see them and that they show the rollups."""

import csv
import io

import pytest

from analytics.rollups import recompute_days
from tests import test_analytics_support as s

pytestmark = pytest.mark.django_db
PAGES = ["/analytics/", "/analytics/intents/", "/analytics/cohorts/", "/analytics/topics/",
         "/analytics/knowledge/", "/analytics/churn/"]
APIS = ["overview", "intents", "cohorts", "topics", "knowledge", "churn"]


@pytest.fixture
def data(db):
    acct = s.account("Acme", "growth", 400)
    cust = s.customer(acct, "pat@acme.example")
    at = s.day_at(2)
    s.convo(cust, at, intent="billing_refund", csat=5)
    s.convo(cust, at, intent="billing_refund", reason="bug", agent_reply=True)
    s.convo(cust, at, intent="login_help", channel="email")
    recompute_days([at.date()])
    return acct


@pytest.mark.parametrize("url", PAGES)
def test_agents_get_403_and_anonymous_visitors_go_to_the_login_page(client, agent_user, url):
    response = client.get(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    client.force_login(agent_user)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("name", APIS)
def test_the_api_is_for_managers_only(client, agent_user, name):
    assert client.get(f"/analytics/api/{name}/").status_code == 401
    client.force_login(agent_user)
    assert client.get(f"/analytics/api/{name}/").status_code == 403


@pytest.mark.parametrize("url", PAGES)
def test_every_page_renders_for_a_manager(client, manager_user, data, url):
    client.force_login(manager_user)
    response = client.get(url)
    assert response.status_code == 200
    assert b"Analytics" in response.content  # the nav link managers see


def test_the_overview_shows_the_numbers_with_chart_data_in_json_script_and_drill_downs(client, manager_user, data):
    client.force_login(manager_user)
    html = client.get("/analytics/?grain=day").content.decode()
    assert '<script id="analytics-charts" type="application/json">' in html
    assert 'data-kpi="conversations"' in html and ">3</strong>" in html
    assert 'href="/inbox/?queue=resolved"' in html


def test_the_intents_table_links_each_intent_to_the_filtered_inbox(client, manager_user, data):
    client.force_login(manager_user)
    html = client.get("/analytics/intents/?channel=chat").content.decode()
    assert 'href="/inbox/?queue=resolved&amp;channel=chat&amp;intent=billing_refund"' in html
    assert "intent=login_help" not in html  # the email conversation is filtered out


def test_an_empty_database_says_what_to_run(client, manager_user):
    client.force_login(manager_user)
    html = client.get("/analytics/").content.decode()
    assert "python manage.py rollup_analytics --all" in html
    assert "python manage.py rollup_analytics --insights" in client.get("/analytics/topics/").content.decode()


def test_csv_export_has_a_header_and_one_row_per_intent(client, manager_user, data):
    client.force_login(manager_user)
    response = client.get("/analytics/intents/?format=csv&table=intents")
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    by_intent = {r["intent_label"]: r for r in rows}
    assert by_intent["billing_refund"]["conversations"] == "2"
    assert by_intent["billing_refund"]["escalation_rate"] == "0.5"
    assert client.get("/analytics/intents/?format=csv&table=nope").status_code == 404


@pytest.mark.parametrize("url", PAGES)
def test_every_page_exports_csv(client, manager_user, data, url):
    client.force_login(manager_user)
    response = client.get(url + "?format=csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")


def test_the_json_api_returns_the_same_numbers_as_the_page(client, manager_user, data):
    client.force_login(manager_user)
    body = client.get(f"/analytics/api/overview/?account={data.pk}").json()
    tiles = {t["key"]: t["value"] for t in body["tiles"]}
    assert tiles["conversations"] == 3 and tiles["escalation_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert body["filters"]["account"] == data.pk
    intents = client.get("/analytics/api/intents/").json()["tables"]["intents"]
    row = next(r for r in intents["rows"] if r["intent_label"] == "billing_refund")
    assert row["conversations"] == 2
    assert client.get("/analytics/api/nope/").status_code == 404
    assert client.post("/analytics/api/overview/").status_code in (403, 405)  # read-only


def test_csv_export_quotes_cells_a_spreadsheet_would_run_as_formulas(client, manager_user):
    cust = s.customer(s.account("Acme", "growth", 400), "pat@acme.example")
    at = s.day_at(2)
    evil = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd", "plain"]
    for intent in evil:
        s.convo(cust, at, intent=intent)
    recompute_days([at.date()])
    client.force_login(manager_user)

    rows = list(csv.DictReader(io.StringIO(client.get("/analytics/intents/?format=csv&table=intents")
                                           .content.decode(), newline="")))

    labels = {r["intent_label"] for r in rows}
    assert labels == {"'" + e for e in evil[:-1]} | {"plain"}
    assert {r["conversations"] for r in rows} == {"1"}  # numbers are left alone


@pytest.mark.parametrize("url", ["/analytics/", "/analytics/intents/", "/analytics/api/overview/",
                                 "/analytics/api/intents/"])
def test_a_nul_character_in_a_filter_is_dropped_instead_of_a_server_error(client, manager_user, data, url):
    client.force_login(manager_user)
    response = client.get(url, {"intent": "billing_refund\x00"})
    assert response.status_code == 200
    if "/api/" in url:
        assert response.json()["filters"]["intent"] == "billing_refund"
