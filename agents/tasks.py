from celery import shared_task

from agents import learning


@shared_task(name="agents.tasks.refresh_intent_model_if_due")
def refresh_intent_model_if_due() -> int | None:
    if not learning.refresh_due():
        return None
    version = learning.refresh_intent_model(trigger="label_count")
    return version.pk if version else None


@shared_task(name="agents.tasks.refresh_intent_model")
def refresh_intent_model() -> int | None:
    version = learning.refresh_intent_model(trigger="schedule")
    return version.pk if version else None
