"""Split Markdown into heading-bounded passages the agent can retrieve and cite.

A passage never crosses a heading, so a citation points at one section; long sections are
split on paragraph boundaries so each stays well inside the encoder's 256-token window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
MAX_CHARS = 900


@dataclass
class Passage:
    heading: str
    text: str


def chunk_markdown(title: str, body: str, max_chars: int = MAX_CHARS) -> list[Passage]:
    sections: list[tuple[str, list[str]]] = [(title, [])]
    for line in body.splitlines():
        match = HEADING.match(line)
        if match:
            heading = match.group(2).strip()
            if heading.lower() == title.strip().lower() and not any(s[1] for s in sections):
                continue  # the article's own H1 repeats the title
            sections.append((heading, []))
        else:
            sections[-1][1].append(line)

    passages: list[Passage] = []
    for heading, lines in sections:
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", "\n".join(lines)) if p.strip()]
        buffer = ""
        for paragraph in paragraphs:
            if buffer and len(buffer) + len(paragraph) + 2 > max_chars:
                passages.append(Passage(heading, buffer))
                buffer = ""
            buffer = f"{buffer}\n\n{paragraph}" if buffer else paragraph
        if buffer:
            passages.append(Passage(heading, buffer))
    return passages
