"""A manager writes an article in a real browser, previews it, publishes it, and a customer finds it."""

import pytest
from playwright.sync_api import expect

from knowledge.models import Article
from tests.conftest import make_staff, sign_in_at

pytestmark = pytest.mark.django_db(transaction=True)

BODY = """## Exporting invoices as CSV

Open **Billing → Invoices**, tick the invoices you need and choose *Download CSV*.
<script>window.pwned = true</script>
"""


def test_manager_writes_previews_and_publishes_an_article_customers_can_find(live_server, page):
    make_staff("mia@example.com", "manager", password="s3cret-pass-word")

    sign_in_at(page, f"{live_server.url}/kb/new/?prefill_title=Invoice+exports"
               "&prefill_questions=can+I+get+my+bills+as+a+spreadsheet%3F",
               "mia@example.com", "s3cret-pass-word", lands_on=f"{live_server.url}/kb/new/**")

    expect(page.locator(".kb-questions")).to_contain_text("can I get my bills as a spreadsheet?")
    expect(page.locator("#id_title")).to_have_value("Invoice exports")
    page.fill("#id_title", "Exporting invoices")
    page.fill("#id_body", BODY)
    page.select_option("#id_area", "billing")
    page.fill("#id_tags", "invoices, csv")

    # The live preview is the sanitised rendering customers will see.
    expect(page.locator("#preview h2")).to_have_text("Exporting invoices as CSV")
    expect(page.locator("#preview strong")).to_have_text("Billing → Invoices")
    assert page.locator("#preview script").count() == 0
    assert page.evaluate("window.pwned === undefined")

    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".flash")).to_contain_text("Saved “Exporting invoices” as a draft")
    expect(page.locator(".kb-side .status")).to_have_text("Draft")

    page.get_by_role("button", name="Publish").click()
    expect(page.locator(".flash")).to_contain_text("Published")
    expect(page.locator(".kb-side .status")).to_have_text("Published")
    assert Article.objects.get().status == "published"

    # A customer, in the public help centre, asks in their own words.
    customer = page.context.browser.new_context().new_page()
    customer.goto(f"{live_server.url}/help/")
    customer.fill("input[name=q]", "download my bills as a spreadsheet")
    customer.get_by_role("button", name="Search").click()
    result = customer.locator(".help-result-title").first
    expect(result).to_have_text("Exporting invoices")
    result.click()
    expect(customer.locator("h1")).to_have_text("Exporting invoices")
    expect(customer.locator(".prose strong")).to_have_text("Billing → Invoices")
    assert customer.evaluate("window.pwned === undefined")
    customer.context.close()
