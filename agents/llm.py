"""Grounded generation through any OpenAI-compatible endpoint, streamed, with a safe fallback.

The model sees only the retrieved passages and the customer's own account facts, must cite
passages as [1], [2], and an answer that cites nothing (or a timeout, an error, garbage)
returns None so the caller falls back to the extractive answer.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from functools import lru_cache

from django.conf import settings

log = logging.getLogger(__name__)
CITATION = re.compile(r"\[(\d{1,3})\]")  # bounded: int() of 5,000 garbage digits raises

SYSTEM = (
    "You are the support assistant of {company}. Answer the customer's question using ONLY the numbered "
    "passages below. Cite every fact with its passage number in square brackets, like [1]. If the passages "
    "do not contain the answer, say you will pass the question to the support team. Never invent facts, "
    "prices, dates or links. The customer's own account facts may be used; never mention other customers. "
    "Reply in plain text, at most 120 words."
)


def enabled() -> bool:
    return bool(settings.OPENAI_BASE_URL and settings.OPENAI_MODEL)


@lru_cache(maxsize=4)
def _client(base_url: str, timeout: float):
    from openai import OpenAI

    return OpenAI(base_url=base_url, api_key=settings.OPENAI_API_KEY or "not-needed", timeout=timeout, max_retries=0)


def generate(
    question: str, passages: list[dict], account_facts: str, *, on_token: Callable[[str], None] | None = None,
    company: str = "Relaymark",
) -> tuple[str | None, dict]:
    """Returns (answer or None, info). Tries once more on failure, as the product promises."""
    if not enabled():
        return None, {"used": False}
    numbered = "\n\n".join(f"[{i}] {p['title']} — {p['heading']}\n{p['text']}" for i, p in enumerate(passages, 1))
    messages = [
        {"role": "system", "content": SYSTEM.format(company=company)},
        {"role": "user", "content": f"Passages:\n{numbered}\n\nCustomer's account: {account_facts or 'unknown'}"
                                    f"\n\nQuestion: {question}"},
    ]
    info: dict = {"used": True, "model": settings.OPENAI_MODEL, "attempts": 0}
    for attempt in range(2):
        info["attempts"] = attempt + 1
        try:
            text = _stream(messages, on_token if attempt == 0 else None)
        except Exception as exc:  # the endpoint's failures are many and all mean "fall back"
            info["error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
            log.warning("LLM call failed (attempt %s): %s", attempt + 1, info["error"])
            continue
        cited = sorted({int(n) for n in CITATION.findall(text) if 1 <= int(n) <= len(passages)})
        if not text.strip() or not cited:
            info["error"] = "answer cites no passage"
            return None, info  # a wrong-but-fluent answer is worse than the extractive one; don't retry it
        info["cited"] = cited
        return text.strip(), info
    return None, info


def warm_up() -> None:
    """Import the SDK and build the client at process start: ~1 s on the first customer's answer otherwise."""
    from openai.types.chat import ChatCompletionChunk  # noqa: F401  (the streaming path's models)

    _client(settings.OPENAI_BASE_URL, settings.OPENAI_TIMEOUT)


def _stream(messages: list[dict], on_token: Callable[[str], None] | None) -> str:
    """The answer's text. OPENAI_TIMEOUT bounds the whole answer: the SDK's timeout is per read, so an
    endpoint trickling a token, or an SSE keep-alive comment (which makes no chunk), every few
    seconds would never time out. A timer closes the stream at the deadline, wherever it waits."""
    timeout = settings.OPENAI_TIMEOUT
    deadline = time.monotonic() + timeout
    client = _client(settings.OPENAI_BASE_URL, timeout)
    stream = client.chat.completions.create(
        model=settings.OPENAI_MODEL, messages=messages, stream=True, temperature=0.2, max_tokens=400,
    )
    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), stream.close)
    watchdog.daemon = True
    watchdog.start()
    parts: list[str] = []
    try:
        for chunk in stream:
            if time.monotonic() > deadline:
                break
            if not getattr(chunk, "choices", None):
                continue
            delta = chunk.choices[0].delta.content or ""
            if delta:
                parts.append(delta)
                if on_token:
                    on_token(delta)
    except Exception:
        if time.monotonic() <= deadline:
            raise
    finally:
        watchdog.cancel()
        stream.close()
    if time.monotonic() > deadline:  # cut off by the deadline, not finished by the model
        raise TimeoutError(f"no complete answer within {timeout:g} s")
    return "".join(parts)
