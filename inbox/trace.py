"""The AI's decision trace (Message.trace) in plain words for the agent reading the thread.

The trace is written by agents.pipeline for machines; agents need "why did it say that / why did
it hand off" at a glance, with the articles it used one click away.
"""

from __future__ import annotations

from inbox.models import EscalationReason, SenderKind

DECISIONS = {
    "answer": "Answered from the knowledge base",
    "clarify": "Asked a clarifying question",
    "handoff": "Handed off to a human",
}


def _pct(value) -> str:
    try:
        return f"{float(value) * 100:.0f}%"
    except (TypeError, ValueError):
        return "—"


def explain(trace: dict, sender_kind: str) -> dict | None:
    """None for messages without an AI decision (customers, agents, notes, plain system notices)."""
    if not trace or not isinstance(trace, dict):
        return None
    if sender_kind not in (SenderKind.AI, SenderKind.SYSTEM) or "decision" not in trace and "handoff_reason" not in trace:
        return None
    decision = trace.get("decision") or ("handoff" if trace.get("handoff_reason") else "")
    headline = DECISIONS.get(decision, decision or "AI decision")
    reason = trace.get("handoff_reason")
    if reason:
        label = dict(EscalationReason.choices).get(reason, reason)
        headline = f"Handed off to a human: {label}"
    intent = trace.get("intent")
    top = [{"name": name, "confidence": _pct(p)} for name, p in (trace.get("top_intents") or [])[:5]
           if isinstance(name, str)]
    entities = [{"text": e.get("text", ""), "label": e.get("label", "")} for e in trace.get("entities") or []
                if isinstance(e, dict)]
    cited = {c.get("article_id"): c.get("url") for c in trace.get("citations") or [] if isinstance(c, dict)}
    chosen = (trace.get("chosen") or {}).get("article_id")
    articles, seen = [], set()
    for hit in trace.get("retrieved") or []:
        if not isinstance(hit, dict) or hit.get("article_id") in seen:
            continue
        seen.add(hit.get("article_id"))
        articles.append({
            "id": hit.get("article_id"), "title": hit.get("title") or f"Article {hit.get('article_id')}",
            "url": cited.get(hit.get("article_id")) or f"/kb/{hit.get('article_id')}/",
            "similarity": None if hit.get("similarity") is None else _pct(hit["similarity"]),
            "used": hit.get("article_id") == chosen,
        })
    if chosen and chosen not in seen:
        articles.insert(0, {"id": chosen, "title": trace["chosen"].get("title", ""), "used": True,
                            "url": cited.get(chosen) or f"/kb/{chosen}/", "similarity": None})
    frustration = trace.get("frustration")
    return {
        "headline": headline,
        "why": trace.get("why", ""),
        "intent": intent,
        "confidence": _pct(trace.get("confidence")) if intent else None,
        "top_intents": top,
        "entities": entities,
        "articles": articles,
        "frustration": None if frustration is None else _pct(frustration),
        "composer": trace.get("composer"),
    }
