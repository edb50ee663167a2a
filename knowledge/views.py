"""Knowledge-base editor (staff, /kb/) and the public help centre (/help/).

Thin: access checks at the top, writes through knowledge.actions, reads here (they are small).
"""

from __future__ import annotations

import difflib
from functools import wraps
from itertools import groupby

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from helpdesk.decorators import staff_required
from inbox.models import Conversation
from knowledge import actions
from knowledge.forms import ArticleForm, FilterForm
from knowledge.models import Area, Article, ArticleRevision, ArticleStatus, LearnedAnswer, LearnedAnswerStatus
from knowledge.rendering import render_markdown, strip_title_heading
from knowledge.search import search

EDIT_PERMISSION = "knowledge.change_article"


def editor_required(view):
    """Staff may read the knowledge base; only holders of change_article may change it."""

    @wraps(view)
    @staff_required
    def wrapped(request, *args, **kwargs):
        if not request.user.has_perm(EDIT_PERMISSION):
            raise PermissionDenied("Editing the knowledge base needs the manager or admin role.")
        return view(request, *args, **kwargs)

    return wrapped


# --- staff editor -------------------------------------------------------------------------


@staff_required
def article_list(request):
    filters = FilterForm(request.GET)
    filters.is_valid()
    wanted = {k: v for k, v in filters.cleaned_data.items() if v}
    articles = Article.objects.select_related("author").annotate(n_chunks=Count("chunks")).order_by("-updated_at")
    if "status" in wanted:
        articles = articles.filter(status=wanted["status"])
    if "area" in wanted:
        articles = articles.filter(area=wanted["area"])
    if "q" in wanted:
        articles = articles.filter(Q(title__icontains=wanted["q"]) | Q(body__icontains=wanted["q"]))
    page = Paginator(articles, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "knowledge/list.html",
        {"filters": filters, "filtered": bool(wanted), "page": page, "total": Article.objects.count(),
         "query_string": _without_page(request),
         "n_learned": LearnedAnswer.objects.filter(status=LearnedAnswerStatus.SUGGESTED).count()},
    )


def _without_page(request) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


@staff_required
def article_detail(request, article_id: int):
    article = get_object_or_404(Article.objects.select_related("author"), pk=article_id)
    return render(
        request,
        "knowledge/detail.html",
        {"article": article, "body_html": render_markdown(strip_title_heading(article.body, article.title)),
         "n_revisions": article.revisions.count(), "n_chunks": article.chunks.count(),
         "learned": LearnedAnswer.objects.filter(article=article).select_related("decided_by").first()},
    )


@editor_required
def article_create(request):
    questions = [q.strip() for raw in request.GET.getlist("prefill_questions") for q in raw.splitlines()
                 if q.strip()]
    if request.method == "POST":
        form = ArticleForm(request.POST)
        article = _save(request, form, None)
        if article:
            messages.success(request, f"Saved “{article.title}” as a draft. Publish it when it is ready.")
            return redirect("kb:detail", article.pk)
    else:
        form = ArticleForm(initial={"title": request.GET.get("prefill_title", "")[:200]})
    return render(request, "knowledge/edit.html", {"form": form, "article": None, "questions": questions[:50]})


@editor_required
def article_edit(request, article_id: int):
    article = get_object_or_404(Article, pk=article_id)
    if request.method == "POST":
        form = ArticleForm(request.POST)
        if _save(request, form, article):
            messages.success(request, f"Saved “{article.title}”.")
            return redirect("kb:detail", article.pk)
    else:
        form = ArticleForm(initial={"title": article.title, "body": article.body, "area": article.area,
                                    "tags": ", ".join(article.tags), "source_url": article.source_url})
    return render(request, "knowledge/edit.html", {"form": form, "article": article, "questions": []})


def _save(request, form: ArticleForm, article: Article | None) -> Article | None:
    if not form.is_valid():
        return None
    data = form.cleaned_data
    try:
        return actions.save_article(article=article, title=data["title"], body=data["body"], area=data["area"],
                                    tags=data["tags"], source_url=data["source_url"], author=request.user)
    except actions.KnowledgeError as error:
        form.add_error(None, str(error))
        return None


@require_POST
@editor_required
def article_preview(request):
    """htmx target: the body exactly as customers will see it (same sanitiser)."""
    body = request.POST.get("body", "")
    if not body.strip():
        return HttpResponse('<p class="muted">The preview appears here as you type.</p>')
    return HttpResponse(render_markdown(body))


@require_POST
@editor_required
def article_status(request, article_id: int):
    article = get_object_or_404(Article, pk=article_id)
    status = request.POST.get("status", "")
    try:
        actions.set_status(article, status, author=request.user)
    except actions.KnowledgeError as error:
        messages.error(request, str(error))
    else:
        if status == ArticleStatus.PUBLISHED:
            messages.success(request, f"Published. Customers can find it at /help/{article.slug}/.")
        else:
            messages.success(request, "Unpublished: customers and the AI agent no longer see it.")
    return redirect("kb:detail", article.pk)


@staff_required
def revision_list(request, article_id: int):
    article = get_object_or_404(Article, pk=article_id)
    revisions = article.revisions.select_related("author")
    return render(request, "knowledge/history.html", {"article": article, "revisions": revisions})


@staff_required
def revision_detail(request, article_id: int, revision_id: int):
    article = get_object_or_404(Article, pk=article_id)
    revision = get_object_or_404(ArticleRevision.objects.select_related("author"), pk=revision_id,
                                 article=article)
    diff = list(difflib.unified_diff(article.body.splitlines(), revision.body.splitlines(),
                                     "current", "this revision", lineterm="", n=2))
    same = revision.title == article.title and revision.body == article.body
    return render(request, "knowledge/revision.html",
                  {"article": article, "revision": revision, "diff": diff, "same_as_current": same})


@require_POST
@editor_required
def revision_restore(request, article_id: int, revision_id: int):
    revision = get_object_or_404(ArticleRevision.objects.select_related("article"), pk=revision_id,
                                 article_id=article_id)
    actions.restore_revision(revision, author=request.user)
    messages.success(request, f"Restored the text from {revision.created_at:%Y-%m-%d %H:%M}. "
                              "The restore is itself a revision, so you can undo it.")
    return redirect("kb:detail", article_id)


# --- learned answers ----------------------------------------------------------------------


@staff_required
def learned_list(request):
    """Suggestions from resolved conversations, most-asked first. Every agent may read them
    (they wrote them, and they are redacted); approving publishes, so it needs the editor role."""
    status = request.GET.get("status", LearnedAnswerStatus.SUGGESTED)
    if status not in LearnedAnswerStatus.values:
        status = LearnedAnswerStatus.SUGGESTED
    items = (LearnedAnswer.objects.filter(status=status)
             .select_related("conversation", "suggested_by", "decided_by", "article")
             .annotate(followed_up=Exists(Conversation.objects.filter(follow_up_of=OuterRef("conversation_id")))))
    if status != LearnedAnswerStatus.SUGGESTED:
        items = items.order_by("-decided_at", "-id")
    page = Paginator(items, 25).get_page(request.GET.get("page"))
    for item in page.object_list:
        item.default_area = actions.learned_answer_area(item)
    counts = dict(LearnedAnswer.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    tabs = [(value, label, counts.get(value, 0)) for value, label in LearnedAnswerStatus.choices]
    return render(request, "knowledge/learned.html",
                  {"page": page, "status": status, "tabs": tabs, "areas": Area.choices,
                   "window_hours": settings.RESOLUTION_WINDOW_HOURS})


def _posted(request, name: str) -> str | None:
    """A POST field without NUL characters, which PostgreSQL text cannot store; None when absent."""
    value = request.POST.get(name)
    return None if value is None else value.replace("\x00", "")


@require_POST
@editor_required
def learned_approve(request, learned_id: int):
    learned = get_object_or_404(LearnedAnswer, pk=learned_id)
    try:
        learned = actions.approve_learned_answer(
            learned, by=request.user, question=_posted(request, "question"), answer=_posted(request, "answer"),
            area=_posted(request, "area") or None)
    except actions.KnowledgeError as error:
        messages.error(request, str(error))
        return redirect(f"{reverse('kb:learned')}#learned-{learned_id}")
    messages.success(request, f"Published “{learned.article.title}”. Customers, search and the AI agent "
                              "can use it now.")
    return redirect("kb:detail", learned.article_id)


@require_POST
@editor_required
def learned_reject(request, learned_id: int):
    learned = get_object_or_404(LearnedAnswer, pk=learned_id)
    try:
        actions.reject_learned_answer(learned, by=request.user, reason=_posted(request, "reason") or "")
    except actions.KnowledgeError as error:
        messages.error(request, str(error))
        return redirect(f"{reverse('kb:learned')}#learned-{learned_id}")
    messages.success(request, "Rejected. The suggestion and your reason are kept under “Rejected”.")
    return redirect("kb:learned")


# --- public help centre -------------------------------------------------------------------

AREA_ORDER = {value: i for i, value in enumerate(Area.values)}


def help_home(request):
    published = Article.objects.filter(status=ArticleStatus.PUBLISHED).only("title", "slug", "area")
    ordered = sorted(published, key=lambda a: (AREA_ORDER.get(a.area, 99), a.title.lower()))
    groups = [(Area(area).label, list(items)) for area, items in groupby(ordered, key=lambda a: a.area)]
    return render(request, "help/home.html", {"groups": groups})


def help_search(request):
    query = request.GET.get("q", "").strip()[:300]
    hits = search(query, k=5) if query else []  # hybrid search always fills k; more is mostly noise
    return render(request, "help/search.html", {"query": query, "hits": hits})


def help_article(request, slug: str):
    article = get_object_or_404(Article, slug=slug, status=ArticleStatus.PUBLISHED)
    related = (Article.objects.filter(status=ArticleStatus.PUBLISHED, area=article.area)
               .exclude(pk=article.pk).order_by("title").only("title", "slug")[:5])
    body_html = render_markdown(strip_title_heading(article.body, article.title))
    # Approved learned answers say where they come from: written by a person, not documentation.
    learned = LearnedAnswer.objects.filter(article=article).exists()
    template = "knowledge/help_learned_article.html" if learned else "help/article.html"
    return render(request, template, {"article": article, "body_html": body_html, "related": related})
