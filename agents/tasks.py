"""Celery entry points of the agents app; each is a thin call into the app's modules."""

from celery import shared_task

from agents import learning, outcomes, pipeline


@shared_task(name="agents.tasks.respond")
def respond(conversation_id: int, message_id: int, try_again: bool = False, text: str | None = None) -> int | None:
    reply = pipeline.respond(conversation_id, message_id, try_again=try_again, text=text)
    return reply.pk if reply else None


@shared_task(name="agents.tasks.suggest_draft")
def suggest_draft(conversation_id: int) -> int | None:
    draft = pipeline.suggest_draft(conversation_id)
    return draft.pk if draft else None


@shared_task(name="agents.tasks.learn_from_signal")
def learn_from_signal(outcome_id: int | None) -> bool:
    return outcomes.apply_outcome(outcome_id) if outcome_id else False


@shared_task(name="agents.tasks.refresh_intent_model_if_due")
def refresh_intent_model_if_due() -> int | None:
    with learning.refresh_slot() as mine:
        if not mine or not learning.refresh_due():
            return None
        version = learning.refresh_intent_model(trigger="label_count")
    return version.pk if version else None


@shared_task(name="agents.tasks.close_resolution_windows")
def close_resolution_windows() -> int:
    return outcomes.close_resolution_windows()


@shared_task(name="agents.tasks.detect_abandonment")
def detect_abandonment() -> int:
    return outcomes.detect_abandonment()
