"""Writes owned by the agents app: intents and the labelled examples the intent model learns from."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from agents.models import ExampleSource, Intent, IntentExample
from inbox import events
from inbox.actions import InboxError, intent_name

REFRESH_TASK = "agents.tasks.refresh_intent_model_if_due"


class AgentsError(ValueError):
    pass


def ensure_intent(name: str, *, description: str = "", human_only: bool = False) -> Intent:
    """An intent appears the first time anyone uses its name (agents may invent new ones)."""
    try:
        name = intent_name(name)
    except InboxError as exc:
        raise AgentsError(str(exc)) from exc
    intent, created = Intent.objects.get_or_create(
        name=name, defaults={"description": description, "human_only": human_only}
    )
    if not created and description and not intent.description:
        intent.description = description
        intent.save(update_fields=["description"])
    return intent


def add_intent_example(
    intent: Intent | str,
    text: str,
    *,
    source: str = ExampleSource.SEED,
    message=None,
    customer=None,
    weight: float = 1.0,
    retrain: bool = True,
) -> IntentExample | None:
    """Store one labelled example; the learning loop picks it up (label-count trigger)."""
    text = (text or "").strip()
    if not text:
        raise AgentsError("An intent example needs text.")
    if source not in ExampleSource.values:
        raise AgentsError(f"Unknown example source “{source}”.")
    if isinstance(intent, str):
        intent = ensure_intent(intent)
    try:
        with transaction.atomic():
            if message is not None:
                # A correction replaces the earlier label of the same message, so it counts once.
                IntentExample.objects.filter(message=message).delete()
            example = IntentExample.objects.create(
                intent=intent, text=text[:2000], source=source, message=message, customer=customer, weight=weight
            )
    except IntegrityError:
        return None
    if retrain:
        events.enqueue_on_commit(REFRESH_TASK)
    return example
