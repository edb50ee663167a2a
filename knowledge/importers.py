"""Import help articles from files other tools export: Markdown/HTML folders, CSV, JSON.

Used by `manage.py import_kb`. Two passes: parse every file first (no writes; a file that
cannot be read as a whole is rejected here, so nothing of it is ever imported), then write all
articles through `knowledge.actions` in one transaction, a savepoint per file and per article.
Re-importing the same export is idempotent: each article remembers where it came from
(`Article.import_key`) and is only saved again when its content changed.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import DatabaseError, transaction
from django.utils.text import slugify
from tqdm import tqdm

from helpdesk.demo.content import parse_front_matter
from knowledge import actions
from knowledge.models import Area, Article, ArticleStatus, Chunk

MAX_ARTICLE_BYTES = 2 * 1024 * 1024
MAX_TITLE = 200  # Article.title
MAX_URL = 200  # Article.source_url
MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
TABLE_SUFFIXES = {".csv", ".json"}
CSV_REQUIRED = ("title", "body", "url")
REINDEX_BATCH = 200  # articles per encoder call: bounded memory on big imports
_SOURCE_URL = URLValidator(schemes=["http", "https"])


class ImportFileError(Exception):
    """A whole file is unusable (unreadable, malformed, missing a column): none of it is imported."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.name, self.reason = name, reason


@dataclass
class Item:
    origin: str  # where to point a human: "docs/a.md", "export.csv:12", "export.json[3]"
    key: str  # Article.import_key
    title: str
    body: str
    area: str
    tags: list[str]
    url: str = ""


@dataclass
class Skipped:
    origin: str
    reason: str


@dataclass
class ParsedFile:
    name: str
    items: list[Item] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


@dataclass
class Report:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    indexed: int = 0  # articles re-embedded synchronously
    queued: int = 0  # articles handed to Celery (--async)

    def lines(self) -> list[str]:
        out = [f"created={self.created} updated={self.updated} unchanged={self.unchanged} "
               f"skipped={len(self.skipped)}"]
        out += [f"  skipped {s.origin}: {s.reason}" for s in self.skipped]
        if self.indexed:
            out.append(f"Indexed {self.indexed} article(s): searchable now.")
        if self.queued:
            out.append(f"Queued {self.queued} article(s) for re-embedding by the Celery worker.")
        return out


# --- reading files ------------------------------------------------------------------------


def _read_text(path: Path, name: str, *, limit: int | None) -> str:
    """The file as text, or ImportFileError saying plainly why not."""
    size = path.stat().st_size
    if limit is not None and size > limit:
        raise ImportFileError(name, f"larger than 2 MB ({size / 1_048_576:.1f} MB); split it into smaller articles")
    data = path.read_bytes()
    if not data.strip():
        raise ImportFileError(name, "empty file")
    if b"\x00" in data:
        raise ImportFileError(name, "binary file (contains NUL bytes), not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportFileError(name, f"not UTF-8 text (undecodable byte at offset {error.start}); "
                                    "binary, or save it as UTF-8") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _clean(value):
    """PostgreSQL text cannot hold NUL: a JSON export's "\u0000" would fail the whole import."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def _source_url(value) -> str:
    """Only http(s) links are kept: the editor shows this as a link, so `javascript:` or `data:`
    would run in a staff member's browser. Anything else is dropped; the article still imports."""
    url = _clean(str(value or "")).strip()
    try:
        _SOURCE_URL(url)
    except ValidationError:
        return ""
    return url


def _area(value: str | None, default: str) -> str:
    """Front matter may say `Billing` or `Known bugs`; the model wants `billing`, `known-bugs`."""
    if not value or not str(value).strip():
        return default
    return slugify(str(value)) or default


def _tags(value) -> list[str]:
    if isinstance(value, list):
        raw = [str(v) for v in value]
    else:
        raw = str(value or "").split(",")
    return [t.strip()[:50] for t in raw if t.strip()]


def _humanize(stem: str) -> str:
    words = re.sub(r"^\d+[-_ ]+", "", stem).replace("-", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else stem


def _first_heading(body: str) -> str:
    for line in body.splitlines():
        if line.startswith("# "):
            return line[2:].strip().strip("#").strip()
    return ""


def parse_markdown(path: Path, name: str, default_area: str) -> Item:
    meta, body = parse_front_matter(_read_text(path, name, limit=MAX_ARTICLE_BYTES))
    meta = _clean(meta)
    title = meta.get("title") or _first_heading(body) or _humanize(path.stem)
    return Item(origin=name, key=name, title=title.strip(), body=body.strip(),
                area=_area(meta.get("area"), default_area), tags=_tags(meta.get("tags")),
                url=_source_url(meta.get("url")))


def parse_html(path: Path, name: str, default_area: str) -> Item:
    meta, html = parse_front_matter(_read_text(path, name, limit=MAX_ARTICLE_BYTES))
    meta = _clean(meta)
    converter = HtmlToMarkdown()
    converter.feed(html)
    converter.close()
    # The page's own <h1> beats <title>, which usually carries " | Site name".
    title = meta.get("title") or converter.h1 or converter.title or _humanize(path.stem)
    return Item(origin=name, key=name, title=" ".join(title.split()), body=converter.markdown(),
                area=_area(meta.get("area"), default_area), tags=_tags(meta.get("tags")),
                url=_source_url(meta.get("url") or converter.canonical))


def parse_csv(path: Path, name: str, default_area: str) -> ParsedFile:
    text = _read_text(path, name, limit=None)
    # Python's csv refuses fields over 128 KB, which would reject the whole file for one long
    # article. Any field fits in the file itself, so it is the per-article "larger than 2 MB"
    # check in _add_row that skips an oversized body, and only that row.
    previous_limit = csv.field_size_limit(max(MAX_ARTICLE_BYTES + 1, len(text) + 1))
    try:
        return _parse_csv_text(text, name, default_area)
    finally:
        csv.field_size_limit(previous_limit)


def _parse_csv_text(text: str, name: str, default_area: str) -> ParsedFile:
    header_line = text.split("\n", 1)[0]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        fieldnames = reader.fieldnames or []
    except csv.Error as error:
        raise ImportFileError(name, f"line 1: not valid CSV ({error})") from None
    columns = {(f or "").strip().lower(): f for f in fieldnames}
    missing = [c for c in CSV_REQUIRED if c not in columns]
    if missing:
        raise ImportFileError(
            name,
            f"missing required column{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)} "
            f"(the header line is: {header_line[:300]!r}; required: {', '.join(CSV_REQUIRED)})",
        )
    parsed = ParsedFile(name)
    line = 1  # the header
    try:
        for row in reader:
            start, line = line + 1, reader.line_num
            value = {col: (row.get(orig) or "") for col, orig in columns.items()}
            _add_row(parsed, f"{name}:{start}", value, default_area)
    except csv.Error as error:
        raise ImportFileError(name, f"line {reader.line_num}: not valid CSV ({error})") from None
    return parsed


def parse_json(path: Path, name: str, default_area: str) -> ParsedFile:
    text = _read_text(path, name, limit=None)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ImportFileError(name, f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    if isinstance(data, dict) and isinstance(data.get("articles"), list):
        data = data["articles"]
    if not isinstance(data, list):
        raise ImportFileError(name, "expected a JSON list of objects with title, body and url")
    parsed = ParsedFile(name)
    for index, obj in enumerate(data, start=1):
        origin = f"{name}[{index}]"
        if not isinstance(obj, dict):
            parsed.skipped.append(Skipped(origin, "not an object with title, body and url"))
            continue
        value = {str(k).strip().lower(): v for k, v in obj.items()}
        _add_row(parsed, origin, value, default_area)
    return parsed


def _add_row(parsed: ParsedFile, origin: str, value: dict, default_area: str) -> None:
    """One CSV row / JSON object → an Item, or a Skipped entry with the reason."""
    value = _clean(value)
    title = " ".join(str(value.get("title") or "").split())
    body_value = value.get("body")
    body = body_value.strip() if isinstance(body_value, str) else ""
    url = _source_url(value.get("url"))
    if not title:
        parsed.skipped.append(Skipped(origin, "empty title"))
        return
    if not body:
        parsed.skipped.append(Skipped(origin, f"empty body (“{title[:60]}”)"))
        return
    if len(body.encode("utf-8")) > MAX_ARTICLE_BYTES:
        parsed.skipped.append(Skipped(origin, f"body larger than 2 MB (“{title[:60]}”); split it"))
        return
    parsed.items.append(Item(origin=origin, key=url or title, title=title, body=body,
                             area=_area(value.get("area"), default_area), tags=_tags(value.get("tags")), url=url))


def discover(root: Path) -> list[tuple[Path, str]]:
    """(file, name shown in the report and used as import key): relative to the folder imported."""
    if root.is_file():
        return [(root, root.name)]
    files = [p for p in root.rglob("*") if p.is_file()
             and not any(part.startswith(".") for part in p.relative_to(root).parts)]
    return [(p, p.relative_to(root).as_posix()) for p in sorted(files)]


def parse_all(root: Path, default_area: str) -> list[ParsedFile]:
    """Parse everything before writing anything.

    Importing one file (a CSV or JSON export, say): a whole-file problem raises ImportFileError.
    Importing a folder: it becomes a skipped entry, and the other files still import.
    """
    single = root.is_file()
    out = []
    for path, name in discover(root):
        suffix = path.suffix.lower()
        try:
            if suffix in MARKDOWN_SUFFIXES:
                out.append(ParsedFile(name, items=[parse_markdown(path, name, default_area)]))
            elif suffix in HTML_SUFFIXES:
                out.append(ParsedFile(name, items=[parse_html(path, name, default_area)]))
            elif suffix == ".csv":
                out.append(parse_csv(path, name, default_area))
            elif suffix == ".json":
                out.append(parse_json(path, name, default_area))
            else:
                raise ImportFileError(name, "not a .md, .markdown, .html, .htm, .csv or .json file")
        except ImportFileError as error:
            if single:
                raise
            out.append(ParsedFile(name, skipped=[Skipped(name, error.reason)]))
    return out


# --- writing ------------------------------------------------------------------------------


def import_path(
    root: str | Path,
    *,
    status: str | None = None,
    default_area: str = Area.OTHER,
    reindex: str = "now",
    progress: bool = True,
    stream=None,
) -> Report:
    """Import a folder or file. status=None: new articles are published, existing ones keep
    the status an editor gave them; reindex: "now" (one batch at the end) | "async" | "none"."""
    root = Path(root)
    if not root.exists():
        raise ImportFileError(str(root), "no such file or folder")
    if default_area not in Area.values:
        raise ImportFileError(str(root), f"unknown area “{default_area}”; use one of {', '.join(Area.values)}")
    if status is not None and status not in ArticleStatus.values:
        raise ImportFileError(str(root), f"unknown status “{status}”")
    parsed = parse_all(root, default_area)
    report = Report()
    to_index: dict[int, Article] = {}
    stream = stream or sys.stderr
    keys = [item.key for f in parsed for item in f.items]
    existing: dict[str, Article] = {}
    for article in Article.objects.filter(import_key__in=keys).order_by("-pk"):
        existing[article.import_key] = article  # lowest id wins if an old import left two
    indexed_ids = set(Chunk.objects.filter(article__import_key__in=keys).values_list("article_id", flat=True))
    seen_titles: dict[str, str] = {}
    seen_keys: dict[str, str] = {}

    total = sum(len(f.items) for f in parsed)
    with tqdm(total=total, desc="importing", unit="article", disable=not progress, file=stream) as bar, \
            transaction.atomic():
        for pf in parsed:
            report.skipped += pf.skipped
            with transaction.atomic():  # one savepoint per file
                for item in pf.items:
                    bar.update()
                    reason = _duplicate(item, seen_titles, seen_keys)
                    if reason:
                        report.skipped.append(Skipped(item.origin, reason))
                        continue
                    try:
                        with transaction.atomic():
                            outcome, article = _apply(item, existing.get(item.key), status, reindex)
                    except (actions.KnowledgeError, DatabaseError, ValueError) as error:
                        report.skipped.append(Skipped(item.origin, str(error).strip() or type(error).__name__))
                        continue
                    setattr(report, outcome, getattr(report, outcome) + 1)
                    existing[item.key] = article
                    if outcome != "unchanged" or article.pk not in indexed_ids:
                        to_index[article.pk] = article

    articles = list(to_index.values())
    if reindex == "now" and articles:
        with tqdm(total=len(articles), desc="embedding", unit="article", disable=not progress, file=stream) as bar:
            for start in range(0, len(articles), REINDEX_BATCH):
                batch = articles[start : start + REINDEX_BATCH]
                actions.reindex_articles(batch)
                bar.update(len(batch))
        report.indexed = len(articles)
    elif reindex == "async":
        report.queued = len(articles)
    return report


def _duplicate(item: Item, seen_titles: dict[str, str], seen_keys: dict[str, str]) -> str:
    """Two articles with one title split retrieval between near-copies: keep the first only."""
    title = item.title.casefold()
    if item.key in seen_keys:
        return f"same source as {seen_keys[item.key]} (import key “{item.key[:80]}”)"
    if title in seen_titles:
        return f"duplicate title “{item.title[:80]}”, already imported from {seen_titles[title]}"
    seen_keys[item.key] = item.origin
    seen_titles[title] = item.origin
    return ""


def _apply(item: Item, article: Article | None, status: str | None, reindex: str) -> tuple[str, Article]:
    if len(item.title) > MAX_TITLE:
        raise ValueError(f"title longer than {MAX_TITLE} characters")
    if len(item.url) > MAX_URL:
        raise ValueError(f"URL longer than {MAX_URL} characters")
    if item.area not in Area.values:
        raise ValueError(f"unknown area “{item.area}”; use one of {', '.join(Area.values)}")
    # Celery only when asked; otherwise the caller embeds everything in one batch at the end.
    mode = "async" if reindex == "async" else "none"
    if article is None:
        article = actions.save_article(
            title=item.title, body=item.body, area=item.area, tags=item.tags, source_url=item.url,
            import_key=item.key, status=status or ArticleStatus.PUBLISHED, reindex=mode,
        )
        return "created", article
    same = (
        article.title == item.title and article.body == item.body and article.area == item.area
        and list(article.tags) == item.tags and (item.url or article.source_url) == article.source_url
    )
    if not same:
        actions.save_article(article=article, title=item.title, body=item.body, area=item.area, tags=item.tags,
                             source_url=item.url, status=status, reindex=mode)
        return "updated", article
    if status and article.status != status:
        actions.set_status(article, status)
        return "updated", article
    return "unchanged", article


# --- HTML → Markdown-ish text -------------------------------------------------------------


class HtmlToMarkdown(HTMLParser):
    """Just enough HTML → Markdown for help-centre exports: headings, paragraphs, lists, links,
    emphasis, code, images, simple tables. Scripts, styles and the <head> are dropped; anything
    else left over is sanitised on display by knowledge.rendering anyway."""

    DROP = {"script", "style", "noscript", "template", "svg", "iframe", "object", "nav", "head"}
    BLOCK = {"p", "div", "section", "article", "main", "header", "footer", "table", "thead", "tbody",
             "blockquote", "figure", "figcaption", "dl", "dd", "dt", "form", "aside"}
    EMPHASIS = {"strong": "**", "b": "**", "em": "*", "i": "*"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.title = self.h1 = self.canonical = ""
        self._drop = 0
        self._in_title = self._in_h1 = False
        self._pre = 0
        self._lists: list[list] = []  # [kind, counter]
        self._links: list[str | None] = []
        self._row_cells = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "title":
            self._in_title = True
        if tag == "link" and (a.get("rel") or "").lower() == "canonical" and a.get("href"):
            self.canonical = a["href"] or ""
        if tag in self.DROP:
            self._drop += 1
        if self._drop:
            return
        if re.fullmatch(r"h[1-6]", tag):
            self._in_h1 = tag == "h1" and not self.h1
            self._emit("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in self.BLOCK:
            self._emit("\n\n")
        elif tag == "br":
            self._emit("  \n")
        elif tag == "hr":
            self._emit("\n\n---\n\n")
        elif tag in ("ul", "ol"):
            self._lists.append([tag, 0])
            self._emit("\n")
        elif tag == "li":
            kind = self._lists[-1] if self._lists else ["ul", 0]
            kind[1] += 1
            indent = "  " * max(len(self._lists) - 1, 0)
            self._emit(f"\n{indent}{kind[1]}. " if kind[0] == "ol" else f"\n{indent}- ")
        elif tag == "pre":
            self._pre += 1
            self._emit("\n\n```\n")
        elif tag == "code" and not self._pre:
            self._emit("`")
        elif tag in self.EMPHASIS:
            self._emit(self.EMPHASIS[tag])
        elif tag == "a":
            href = (a.get("href") or "").strip()
            safe = href if re.match(r"^(https?:|mailto:|/|#|[\w.-]+(/|$))", href, re.I) else None
            self._links.append(safe)
            if safe:
                self._emit("[")
        elif tag == "img" and a.get("src"):
            self._emit(f"![{a.get('alt') or ''}]({a['src']})")
        elif tag == "tr":
            self._row_cells = 0
            self._emit("\n")
        elif tag in ("td", "th"):
            self._emit(" | " if self._row_cells else "| ")
            self._row_cells += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in self.DROP:
            self._drop = max(self._drop - 1, 0)
            return
        if self._drop:
            return
        if re.fullmatch(r"h[1-6]", tag):
            self._in_h1 = False
            self._emit("\n\n")
        elif tag in self.BLOCK:
            self._emit("\n\n")
        elif tag in ("ul", "ol"):
            if self._lists:
                self._lists.pop()
            self._emit("\n\n")
        elif tag == "pre":
            self._pre = max(self._pre - 1, 0)
            self._emit("\n```\n\n")
        elif tag == "code" and not self._pre:
            self._emit("`")
        elif tag in self.EMPHASIS:
            self._emit(self.EMPHASIS[tag])
        elif tag == "a":
            href = self._links.pop() if self._links else None
            if href:
                self._emit(f"]({href})")
        elif tag == "tr":
            self._emit(" |")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
            return
        if self._drop:
            return
        if self._in_h1:
            self.h1 = " ".join((self.h1 + " " + data).split())
        self._emit(data if self._pre else re.sub(r"\s+", " ", data))

    def _emit(self, text: str) -> None:
        self.out.append(text)

    def markdown(self) -> str:
        text = "".join(self.out)
        text = "\n".join(line.rstrip() for line in text.split("\n"))
        text = re.sub(r"(?m)^ (?=\S)", "", text)  # the space left by collapsing whitespace
        return re.sub(r"\n{3,}", "\n\n", text).strip()

