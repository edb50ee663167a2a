"""Article bodies are Markdown written by staff or imported from elsewhere: render, then sanitise.

Markdown passes raw HTML straight through, so an imported article with `<script>` or an
`onerror=` attribute would run in customers' browsers. Every place that shows an article body
calls `render_markdown`, and nothing else turns article text into HTML.
"""

from __future__ import annotations

import html

import markdown
import nh3
from django.utils.html import strip_tags
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator

ALLOWED_TAGS = {
    "h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr",
    "ul", "ol", "li", "dl", "dt", "dd",
    "a", "img", "code", "pre", "kbd", "strong", "em", "b", "i", "del", "sup", "sub",
    "blockquote", "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "th": {"align"},
    "td": {"align"},
    "ol": {"start"},
}
# No javascript:, data: or vbscript: URLs; relative links (/help/other-article/) stay.
URL_SCHEMES = {"http", "https", "mailto"}
EXTENSIONS = ["extra", "sane_lists"]


def render_markdown(text: str | None) -> SafeString:
    """Markdown → HTML → sanitised HTML, safe to put in a template as is."""
    raw = markdown.markdown(text or "", extensions=EXTENSIONS, output_format="html")
    clean = nh3.clean(
        raw,
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style"},
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(clean)  # nh3 has just removed everything not on the allow-list


def plain_snippet(text: str | None, words: int = 40) -> str:
    """Plain text for search results: no Markdown syntax, no tags; the template escapes it."""
    plain = html.unescape(strip_tags(render_markdown(text)))
    return Truncator(" ".join(plain.split())).words(words, truncate=" …")


def strip_title_heading(body: str, title: str) -> str:
    """Imported articles often repeat their title as `# Title`; pages already show it as the H1."""
    first, _, rest = (body or "").lstrip().partition("\n")
    if first.startswith("# ") and first[2:].strip().strip("#").strip().lower() == title.strip().lower():
        return rest.lstrip("\n")
    return body
