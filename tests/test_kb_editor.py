"""The staff knowledge-base editor at /kb/: who may do what, revisions, restore, safe preview."""

import pytest
from django.contrib.auth import get_user_model

from knowledge.actions import save_article
from knowledge.models import Article, ArticleRevision

pytestmark = pytest.mark.django_db

FORM = {"title": "Change your plan", "body": "## Upgrading\n\nGo to **Billing → Plan**.", "area": "billing",
        "tags": "plan, upgrade", "source_url": "https://help.example/plan"}


@pytest.fixture
def article(manager_user):
    return save_article(title="Refunds", body="Refunds take 5 to 10 days.", area="billing", author=manager_user,
                        reindex="none")


@pytest.mark.parametrize("path", ["/kb/", "/kb/new/", "/kb/1/", "/kb/1/edit/", "/kb/1/history/"])
def test_anonymous_visitors_are_sent_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_signed_in_user_without_a_staff_role_is_refused(client):
    user = get_user_model().objects.create_user("cust@example.com", "cust@example.com", "pw-123456789")
    client.force_login(user)
    assert client.get("/kb/").status_code == 403


def test_an_agent_reads_articles_and_history_but_cannot_change_anything(client, agent_user, article):
    client.force_login(agent_user)
    listing = client.get("/kb/")
    assert listing.status_code == 200 and b"Refunds" in listing.content
    assert b"New article" not in listing.content
    detail = client.get(f"/kb/{article.pk}/")
    assert detail.status_code == 200 and b"5 to 10 days" in detail.content and b"Publish" not in detail.content
    assert client.get(f"/kb/{article.pk}/history/").status_code == 200

    revision = article.revisions.first()
    assert client.get("/kb/new/").status_code == 403
    assert client.post("/kb/new/", FORM).status_code == 403
    assert client.get(f"/kb/{article.pk}/edit/").status_code == 403
    assert client.post(f"/kb/{article.pk}/edit/", FORM).status_code == 403
    assert client.post(f"/kb/{article.pk}/status/", {"status": "published"}).status_code == 403
    assert client.post("/kb/preview/", {"body": "x"}).status_code == 403
    assert client.post(f"/kb/{article.pk}/history/{revision.pk}/restore/").status_code == 403
    article.refresh_from_db()
    assert (article.title, article.status) == ("Refunds", "draft")


def test_a_manager_creates_a_draft_then_edits_and_publishes_it(client, manager_user):
    client.force_login(manager_user)
    assert client.get("/kb/new/").status_code == 200

    response = client.post("/kb/new/", FORM)

    article = Article.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/kb/{article.pk}/"
    assert (article.title, article.area, article.tags, article.status, article.author) == (
        "Change your plan", "billing", ["plan", "upgrade"], "draft", manager_user)
    assert client.get(f"/help/{article.slug}/").status_code == 404  # drafts are not public

    client.post(f"/kb/{article.pk}/edit/", {**FORM, "body": "## Upgrading\r\n\r\nOpen Billing, then Plan."})
    article.refresh_from_db()
    assert article.body == "## Upgrading\n\nOpen Billing, then Plan."  # browsers' CRLF stored as LF

    client.post(f"/kb/{article.pk}/status/", {"status": "published"})
    article.refresh_from_db()
    assert article.status == "published"
    assert article.chunks.exists()  # publishing indexes an article no worker has embedded yet
    assert b"Open Billing, then Plan." in client.get(f"/help/{article.slug}/").content

    client.post(f"/kb/{article.pk}/status/", {"status": "draft"})
    article.refresh_from_db()
    assert article.status == "draft"


def test_every_save_and_status_change_records_a_revision(client, manager_user):
    client.force_login(manager_user)
    client.post("/kb/new/", FORM)
    article = Article.objects.get()
    client.post(f"/kb/{article.pk}/edit/", {**FORM, "title": "Change or cancel your plan"})
    client.post(f"/kb/{article.pk}/status/", {"status": "published"})

    titles = list(article.revisions.values_list("title", "status"))
    assert titles == [("Change or cancel your plan", "published"), ("Change or cancel your plan", "draft"),
                      ("Change your plan", "draft")]
    history = client.get(f"/kb/{article.pk}/history/").content.decode()
    assert history.count("/history/") >= 3 and "manager@example.com" in history


def test_restoring_an_old_revision_saves_its_text_as_a_new_revision(client, manager_user, article):
    old = article.revisions.get()
    save_article(article=article, title="Refunds (new policy)", body="No refunds after 30 days.", area="billing",
                 author=manager_user, reindex="none")
    client.force_login(manager_user)
    view = client.get(f"/kb/{article.pk}/history/{old.pk}/").content.decode()
    assert "5 to 10 days" in view and "Restore this revision" in view and "-No refunds after 30 days." in view

    response = client.post(f"/kb/{article.pk}/history/{old.pk}/restore/")

    assert response.status_code == 302
    article.refresh_from_db()
    assert (article.title, article.body) == ("Refunds", "Refunds take 5 to 10 days.")
    assert article.revisions.count() == 3 and article.revisions.first().author == manager_user


def test_restore_needs_a_post_with_a_csrf_token(manager_user, article):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(manager_user)
    revision = article.revisions.get()
    assert client.get(f"/kb/{article.pk}/history/{revision.pk}/restore/").status_code == 405
    assert client.post(f"/kb/{article.pk}/history/{revision.pk}/restore/").status_code == 403
    assert client.post(f"/kb/{article.pk}/status/", {"status": "published"}).status_code == 403
    assert 'name="csrfmiddlewaretoken"' in client.get(f"/kb/{article.pk}/edit/").content.decode()


def test_preview_renders_markdown_and_strips_scripts_and_event_handlers(client, manager_user):
    client.force_login(manager_user)
    body = ("## Hi\n\n**bold** <script>alert('x')</script> <img src=x onerror=alert(1)> "
            "[bad](javascript:alert(1)) [good](https://ok.example)")

    html = client.post("/kb/preview/", {"body": body}).content.decode()

    assert "<h2>Hi</h2>" in html and "<strong>bold</strong>" in html
    assert 'href="https://ok.example"' in html
    assert "<script" not in html and "alert(" not in html and "onerror" not in html and "javascript:" not in html


def test_the_create_page_takes_a_title_and_questions_from_a_knowledge_gap(client, manager_user):
    client.force_login(manager_user)
    page = client.get("/kb/new/", {"prefill_title": "Exporting invoices",
                                   "prefill_questions": "how do I export invoices?\ncan I get a CSV of bills?"})
    html = page.content.decode()
    assert 'value="Exporting invoices"' in html
    assert "Customers asked" in html and "how do I export invoices?" in html and "can I get a CSV of bills?" in html


def test_invalid_input_shows_the_form_again_with_errors(client, manager_user):
    client.force_login(manager_user)
    response = client.post("/kb/new/", {**FORM, "title": "", "source_url": "not a url"})
    assert response.status_code == 200 and b"This field is required" in response.content
    assert not Article.objects.exists() and not ArticleRevision.objects.exists()


def test_the_list_filters_by_status_area_and_words(client, agent_user, manager_user):
    save_article(title="Refunds", body="Money back in 10 days.", area="billing", status="published", reindex="none")
    save_article(title="Okta SSO", body="Connect Okta.", area="integrations", reindex="none")
    client.force_login(agent_user)

    def titles(**params):
        html = client.get("/kb/", params).content.decode()
        return [t for t in ("Refunds", "Okta SSO") if f">{t}</a>" in html]

    assert titles() == ["Refunds", "Okta SSO"]
    assert titles(status="published") == ["Refunds"]
    assert titles(area="integrations") == ["Okta SSO"]
    assert titles(q="money") == ["Refunds"]
    assert "No articles match" in client.get("/kb/", {"q": "zebra"}).content.decode()


def test_an_empty_knowledge_base_says_how_to_fill_it(client, manager_user):
    client.force_login(manager_user)
    html = client.get("/kb/").content.decode()
    assert "The knowledge base is empty" in html and "import_kb" in html and "/kb/new/" in html
