"""The public help centre at /help/: no login, only published articles, search in customers' words."""

import pytest

from knowledge.actions import save_article, set_status

pytestmark = pytest.mark.django_db

CARD = """# Why was my card declined?

## Common reasons

Your bank may block the payment, the card may have expired, or the billing address may not match.

## What to do

Update the card under **Billing → Payment method** and we retry the charge within an hour.
"""
SSO = "## Set up Okta\n\nOpen Settings → Security → Single sign-on and paste the Okta metadata URL."


@pytest.fixture
def articles():
    card = save_article(title="Failed payments", body=CARD, area="billing", status="published", reindex="now")
    sso = save_article(title="Single sign-on with Okta", body=SSO, area="integrations", status="published",
                       reindex="now")
    save_article(title="Refunds", body="## Getting money back\n\nWe refund unused annual seats to the original "
                 "card within 10 business days.", area="billing", status="published", reindex="now")
    save_article(title="Reset your password", body="Use *Forgot password* on the sign-in page; the link "
                 "expires after one hour.", area="account-admin", status="published", reindex="now")
    draft = save_article(title="Upcoming price change", body="Prices rise in May for the Starter plan.",
                         area="billing", status="draft", reindex="now")
    return card, sso, draft


def test_home_lists_published_articles_by_area_without_login(client, articles):
    card, sso, draft = articles
    html = client.get("/help/").content.decode()
    assert "How can we help?" in html
    assert html.index("<h2>Billing</h2>") < html.index("Failed payments") < html.index("<h2>Integrations</h2>")
    assert f'href="/help/{sso.slug}/"' in html
    assert "Upcoming price change" not in html


def test_a_published_article_is_readable_and_a_draft_is_not_found(client, articles):
    card, sso, draft = articles
    page = client.get(f"/help/{card.slug}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<strong>Billing → Payment method</strong>" in html and "<h2>Common reasons</h2>" in html
    assert client.get(f"/help/{draft.slug}/").status_code == 404
    assert client.get("/help/no-such-article/").status_code == 404


def test_unpublishing_takes_an_article_off_the_help_centre(client, articles):
    card, _, _ = articles
    set_status(card, "draft")
    assert client.get(f"/help/{card.slug}/").status_code == 404
    assert "Failed payments" not in client.get("/help/search", {"q": "card declined"}).content.decode()


def test_search_finds_an_article_from_a_paraphrased_question(client, articles):
    card, _, _ = articles
    # "Refused" is nowhere in the knowledge base, and "card" is in the refunds article too.
    html = client.get("/help/search", {"q": "the charge on my card was refused"}).content.decode()
    first = html.index('class="help-result-title"')
    assert f'href="/help/{card.slug}/"' in html[first:first + 200]
    assert "Failed payments" in html


def test_search_shows_heading_and_a_plain_text_snippet(client, articles):
    html = client.get("/help/search", {"q": "okta metadata url"}).content.decode()
    assert "Single sign-on with Okta" in html and "Set up Okta" in html
    assert "paste the Okta metadata URL" in html and "## Set up" not in html


def test_search_never_returns_drafts(client, articles):
    html = client.get("/help/search", {"q": "price rise in May for Starter"}).content.decode()
    assert "Upcoming price change" not in html


def test_an_empty_query_and_a_query_without_results_say_what_to_do(client, db):
    empty = client.get("/help/search").content.decode()
    assert "Type your question" in empty
    nothing = client.get("/help/search", {"q": "anything at all"}).content.decode()
    assert "No results for" in nothing and "browse all topics" in nothing
    assert "No articles yet" in client.get("/help/").content.decode()


def test_a_script_in_an_article_body_is_never_rendered(client):
    body = ("Hello <script>document.cookie</script> <img src=x onerror=alert(1)> "
            '<a href="javascript:alert(2)">click</a> <iframe src="https://evil.example"></iframe>')
    article = save_article(title="Tricky", body=body, status="published", reindex="now")
    for url in (f"/help/{article.slug}/", "/help/search?q=hello+tricky"):
        html = client.get(url).content.decode()
        assert "Tricky" in html
        assert "<script>document" not in html and "document.cookie" not in html
        assert "onerror" not in html and "javascript:" not in html and "<iframe" not in html


def test_an_article_that_repeats_its_title_as_h1_shows_it_once(client, articles):
    card, _, _ = articles
    save_article(article=card, title="Why was my card declined?", body=CARD, area="billing", reindex="none")
    html = client.get(f"/help/{card.slug}/").content.decode()
    assert html.count("Why was my card declined?</h1>") == 1
