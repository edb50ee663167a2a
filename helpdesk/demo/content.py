"""Reads the demo company's hand-written content (articles, intents, company facts)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent


@dataclass
class DemoArticle:
    stem: str
    title: str
    area: str
    tags: list[str]
    url: str
    body: str


def parse_front_matter(text: str) -> tuple[dict[str, str], str]:
    """`---`-delimited `key: value` header, as the demo articles and Markdown imports use."""
    if not text.startswith("---"):
        return {}, text
    end = text.find("\n---", 3)
    if end == -1:
        return {}, text
    meta = {}
    for line in text[3:end].strip().splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            meta[key.strip().lower()] = value.strip()
    return meta, text[end + 4 :].lstrip("\n")


def articles() -> list[DemoArticle]:
    out = []
    for path in sorted((DEMO_DIR / "articles").glob("*.md")):
        meta, body = parse_front_matter(path.read_text(encoding="utf-8"))
        out.append(
            DemoArticle(
                stem=path.stem,
                title=meta.get("title", path.stem),
                area=meta.get("area", "other"),
                tags=[t.strip() for t in meta.get("tags", "").split(",") if t.strip()],
                url=meta.get("url", ""),
                body=body,
            )
        )
    return out


def intents() -> list[dict]:
    return json.loads((DEMO_DIR / "intents.json").read_text(encoding="utf-8"))


def company() -> dict:
    return json.loads((DEMO_DIR / "company.json").read_text(encoding="utf-8"))
