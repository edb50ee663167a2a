from django import template

from knowledge.rendering import plain_snippet, render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str):
    """`{{ article.body|markdown }}`: the one sanitised rendering (knowledge.rendering)."""
    return render_markdown(text)


@register.filter(name="snippet")
def snippet_filter(text: str, words: int = 40) -> str:
    return plain_snippet(text, int(words))
