"""`manage.py import_kb`: folders, CSV and JSON exports, idempotent re-imports, bad input reported."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from knowledge.models import Article, ArticleRevision, ArticleStatus, Chunk
from knowledge.search import search

pytestmark = pytest.mark.django_db

REFUND_MD = """---
title: Getting a refund
area: billing
tags: refunds, money back
url: https://help.example/refunds
---
# Getting a refund

## How long does a refund take?

Refunds reach your card within 5 to 10 business days after we approve them.
"""

SSO_HTML = """<!doctype html><html><head><title>SSO | Example Help</title>
<link rel="canonical" href="https://help.example/sso"><style>p{color:red}</style>
<script>var tracking = 1;</script></head>
<body><nav>Home · Docs</nav><h1>Single sign-on with Okta</h1>
<p>Connect <strong>Okta</strong> under <em>Settings → Security</em>.</p>
<ul><li>Create an app in Okta</li><li>Paste the metadata URL</li></ul>
<p>See <a href="https://okta.example/docs">Okta's guide</a> or <a href="javascript:alert(1)">this</a>.</p>
</body></html>"""


def run(*args) -> str:
    out = StringIO()
    call_command("import_kb", *map(str, args), stdout=out, stderr=StringIO())
    return out.getvalue()


def counts(output: str) -> str:
    return output.strip().splitlines()[-1]


@pytest.fixture
def docs(tmp_path):
    folder = tmp_path / "docs"
    (folder / "billing").mkdir(parents=True)
    (folder / "billing" / "refunds.md").write_text(REFUND_MD)
    (folder / "sso.html").write_text(SSO_HTML)
    (folder / "2fa.markdown").write_text("# Two-factor login\n\nTurn on two-factor login in Profile → Security.\n")
    return folder


def test_a_folder_of_markdown_and_html_becomes_published_searchable_articles(docs):
    output = run(docs)

    assert counts(output) == "created=3 updated=0 unchanged=0 skipped=0"
    refund = Article.objects.get(import_key="billing/refunds.md")
    assert (refund.title, refund.area, refund.tags, refund.source_url, refund.status) == (
        "Getting a refund", "billing", ["refunds", "money back"], "https://help.example/refunds", "published")
    assert "title:" not in refund.body  # front matter is metadata, not text
    sso = Article.objects.get(import_key="sso.html")
    assert sso.title == "Single sign-on with Okta"  # the page's h1, not "SSO | Example Help"
    assert sso.source_url == "https://help.example/sso"
    assert "**Okta**" in sso.body and "- Create an app in Okta" in sso.body
    assert "[Okta's guide](https://okta.example/docs)" in sso.body
    assert "tracking" not in sso.body and "color:red" not in sso.body and "javascript:" not in sso.body
    assert Article.objects.get(import_key="2fa.markdown").title == "Two-factor login"
    # Embedded before the command returned: searchable at once, no worker needed.
    assert Chunk.objects.filter(article=refund, embedding__isnull=False).exists()
    assert search("when will I get my money back?", k=1)[0].article_id == refund.pk


def test_reimporting_the_same_folder_changes_nothing(docs):
    run(docs)
    revisions = ArticleRevision.objects.count()
    chunk_ids = set(Chunk.objects.values_list("id", flat=True))

    output = run(docs)

    assert counts(output) == "created=0 updated=0 unchanged=3 skipped=0"
    assert Article.objects.count() == 3
    assert ArticleRevision.objects.count() == revisions
    assert set(Chunk.objects.values_list("id", flat=True)) == chunk_ids  # not re-embedded


def test_a_changed_file_is_updated_in_place_and_reindexed(docs):
    run(docs)
    refund = Article.objects.get(import_key="billing/refunds.md")
    (docs / "billing" / "refunds.md").write_text(REFUND_MD.replace("5 to 10", "3 to 5"))

    output = run(docs)

    assert counts(output) == "created=0 updated=1 unchanged=2 skipped=0"
    refund.refresh_from_db()
    assert "3 to 5 business days" in refund.body
    assert Article.objects.filter(title="Getting a refund").count() == 1
    assert any("3 to 5" in c.text for c in refund.chunks.all())


def test_reimport_keeps_an_editors_unpublish_unless_a_status_is_given(docs):
    run(docs)
    refund = Article.objects.get(import_key="billing/refunds.md")
    refund.status = ArticleStatus.DRAFT
    refund.save()

    assert counts(run(docs)).startswith("created=0 updated=0 unchanged=3")
    refund.refresh_from_db()
    assert refund.status == "draft"

    assert counts(run(docs, "--status", "published")).startswith("created=0 updated=1 unchanged=2")
    refund.refresh_from_db()
    assert refund.status == "published"


def test_status_and_default_area_options_apply_to_new_articles(tmp_path):
    (tmp_path / "note.md").write_text("# Webhooks\n\nWebhooks retry three times.\n")
    run(tmp_path, "--status", "draft", "--area", "integrations")
    article = Article.objects.get()
    assert (article.status, article.area) == ("draft", "integrations")


def test_a_csv_export_imports_rows_and_reports_empty_ones_with_their_line(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(
        "Title,Body,URL,Area,Tags\n"
        'Change your plan,"Go to Billing → Plan.\n\nPick a new plan.",https://h.example/plan,billing,"plan, upgrade"\n'
        ",A body without a title,https://h.example/x,,\n"
        "No body here,,https://h.example/y,,\n"
        "Reset your password,Use Forgot password on the sign-in page.,,account-admin,\n"
    )

    output = run(path)

    assert counts(output) == "created=2 updated=0 unchanged=0 skipped=2"
    assert "export.csv:5: empty title" in output  # line 5: the quoted body spans lines 2–4
    assert "export.csv:6: empty body" in output
    plan = Article.objects.get(title="Change your plan")
    assert (plan.import_key, plan.area, plan.tags) == ("https://h.example/plan", "billing", ["plan", "upgrade"])
    assert Article.objects.get(title="Reset your password").import_key == "Reset your password"
    assert counts(run(path)) == "created=0 updated=0 unchanged=2 skipped=2"


def test_a_csv_missing_a_required_column_names_file_and_column_and_imports_nothing(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("title,url\nChange your plan,https://h.example/plan\n")

    with pytest.raises(CommandError) as error:
        run(path)

    message = str(error.value)
    assert "export.csv" in message and "'body'" in message and "title,url" in message
    assert Article.objects.count() == 0


def test_a_json_export_imports_objects_and_skips_what_is_not_an_article(tmp_path):
    path = tmp_path / "export.json"
    path.write_text(json.dumps([
        {"title": "Export your data", "body": "Settings → Export creates a ZIP.", "url": "https://h.example/export",
         "tags": ["export", "zip"]},
        {"title": "", "body": "orphan text", "url": ""},
        "not an object",
    ]))

    output = run(path)

    assert counts(output) == "created=1 updated=0 unchanged=0 skipped=2"
    assert "export.json[2]: empty title" in output and "export.json[3]: not an object" in output
    assert Article.objects.get().tags == ["export", "zip"]


def test_malformed_json_is_refused_with_its_position_and_nothing_imported(tmp_path):
    path = tmp_path / "export.json"
    path.write_text('[{"title": "A", "body": "B", "url": ""},\n {"title": "C", body: "D"}]')
    with pytest.raises(CommandError, match=r"export\.json: not valid JSON: .* line 2"):
        run(path)
    assert Article.objects.count() == 0


def test_empty_binary_huge_and_unknown_files_in_a_folder_are_skipped_with_reasons(tmp_path):
    (tmp_path / "good.md").write_text("# Good\n\nFine text.\n")
    (tmp_path / "empty.md").write_text("  \n")
    (tmp_path / "binary.md").write_bytes(b"# Title\x00\x01\x02")
    (tmp_path / "latin1.html").write_bytes("<h1>Caf\xe9</h1>".encode("latin-1"))
    (tmp_path / "huge.md").write_text("# Huge\n\n" + "x" * (2 * 1024 * 1024 + 10))
    (tmp_path / "broken.json").write_text("{nope")
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n")

    output = run(tmp_path)

    assert counts(output) == "created=1 updated=0 unchanged=0 skipped=6"
    assert "empty.md: empty file" in output
    assert "binary.md: binary file" in output
    assert "latin1.html: not UTF-8 text" in output
    assert "huge.md: larger than 2 MB" in output
    assert "broken.json: not valid JSON" in output
    assert "logo.png: not a .md" in output
    assert list(Article.objects.values_list("title", flat=True)) == ["Good"]


def test_a_single_empty_file_is_an_error(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("")
    with pytest.raises(CommandError, match="export.csv: empty file"):
        run(path)


def test_the_second_article_with_a_title_already_imported_is_skipped(tmp_path):
    (tmp_path / "a.md").write_text("# Invite teammates\n\nUse Settings → People.\n")
    (tmp_path / "b.md").write_text("# Invite Teammates\n\nAn older copy of the same page.\n")

    output = run(tmp_path)

    assert counts(output) == "created=1 updated=0 unchanged=0 skipped=1"
    assert "b.md: duplicate title “Invite Teammates”, already imported from a.md" in output
    assert Article.objects.get().import_key == "a.md"


def test_markdown_with_a_script_is_imported_as_text_and_never_rendered(client, tmp_path):
    (tmp_path / "x.md").write_text("# Tricky\n\nHello <script>alert('x')</script> <img src=x onerror=alert(1)>\n")
    run(tmp_path)
    article = Article.objects.get()
    assert "<script>" in article.body  # stored as written: the importer does not rewrite text
    page = client.get(f"/help/{article.slug}/").content.decode()
    assert "alert(" not in page and "onerror" not in page


def test_async_queues_reembedding_instead_of_waiting(tmp_path):
    (tmp_path / "a.md").write_text("# Queued\n\nEmbedded later by the worker.\n")
    output = run(tmp_path, "--async")
    assert "Queued 1 article(s)" in output
    assert not Chunk.objects.exists()


def test_a_missing_path_is_an_error():
    with pytest.raises(CommandError, match="no such file or folder"):
        run("/nonexistent/kb-export")


def test_in_a_folder_a_csv_missing_a_column_is_skipped_whole_and_the_rest_imports(tmp_path):
    (tmp_path / "good.md").write_text("# Good\n\nFine text.\n")
    (tmp_path / "rows.csv").write_text("title,body\nRow one,Text one\n")

    output = run(tmp_path)

    assert counts(output) == "created=1 updated=0 unchanged=0 skipped=1"
    assert "rows.csv: missing required column 'url'" in output
    assert not Article.objects.filter(title="Row one").exists()


def test_a_source_url_that_is_not_http_or_https_is_dropped_and_the_article_still_imports(client, agent_user,
                                                                                          tmp_path):
    (tmp_path / "front.md").write_text("---\nurl: javascript:alert(document.cookie)\n---\n# Front\n\nText one.\n")
    (tmp_path / "canon.html").write_text('<html><head><link rel="canonical" href="javascript:alert(1)"></head>'
                                         "<body><h1>Canon</h1><p>Text two.</p></body></html>")
    (tmp_path / "rows.csv").write_text("title,body,url\nRow,Text three.,JaVaScRiPt:alert(2)\n")
    (tmp_path / "objs.json").write_text(json.dumps([
        {"title": "Obj", "body": "Text four.", "url": "data:text/html,<script>alert(3)</script>"},
        {"title": "Kept", "body": "Text five.", "url": "http://h.example/kept"},
    ]))

    output = run(tmp_path, "--async")

    assert counts(output) == "created=5 updated=0 unchanged=0 skipped=0"
    urls = dict(Article.objects.values_list("title", "source_url"))
    assert urls == {"Front": "", "Canon": "", "Row": "", "Obj": "", "Kept": "http://h.example/kept"}
    assert Article.objects.get(title="Row").import_key == "Row"  # keyed by title, as a row without a URL is
    client.force_login(agent_user)
    for article in Article.objects.all():
        html = client.get(f"/kb/{article.pk}/").content.decode().lower()
        assert "javascript:" not in html and "data:text" not in html


def test_nul_characters_in_a_json_export_are_removed_instead_of_failing_the_import(tmp_path):
    path = tmp_path / "export.json"
    path.write_text(json.dumps([{"title": "Reset\u0000 password", "body": "Use Forgot\u0000 password.",
                                 "url": "https://h.example/re\u0000set", "tags": ["pass\u0000word"],
                                 "area": "account\u0000-admin"}]))

    output = run(path, "--async")

    assert counts(output) == "created=1 updated=0 unchanged=0 skipped=0"
    article = Article.objects.get()
    assert (article.title, article.body, article.source_url, article.tags, article.area) == (
        "Reset password", "Use Forgot password.", "https://h.example/reset", ["password"], "account-admin")
    assert counts(run(path, "--async")) == "created=0 updated=0 unchanged=1 skipped=0"


def test_a_csv_body_over_128_kb_imports_and_one_over_2_mb_is_skipped_alone(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("title,body,url\n"
                    f"Long article,{'long text ' * 20_000},\n"
                    f"Huge article,{'x' * (2 * 1024 * 1024 + 10)},\n"
                    "Short article,Fine text.,\n")

    output = run(path, "--async")

    assert counts(output) == "created=2 updated=0 unchanged=0 skipped=1"
    assert "export.csv:3: body larger than 2 MB (“Huge article”)" in output
    assert len(Article.objects.get(title="Long article").body) == 10 * 20_000 - 1
    assert Article.objects.filter(title="Short article").exists()
