"""Manager pages of the agents app: the model registry (versions, metrics, rollback)."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from agents import learning
from agents.models import ArticleStat, Intent, IntentExample, ModelVersion
from helpdesk.decorators import manager_required


@manager_required
def model_versions(request):
    versions = ModelVersion.objects.defer("blob").order_by("-trained_at", "-id")[:100]
    curve = [
        {"x": v.trained_at.isoformat(), "y": v.metrics.get("holdout_accuracy")}
        for v in reversed(versions) if v.metrics.get("holdout_accuracy") is not None
    ]
    return render(request, "agents/model_versions.html", {
        "versions": versions,
        "curve": curve,
        "n_examples": IntentExample.objects.count(),
        "n_intents": Intent.objects.count(),
        "top_stats": ArticleStat.objects.filter(segment="").select_related("article").order_by("-successes")[:15],
    })


@require_POST
@manager_required
def rollback(request):
    restored = learning.rollback(request.POST.get("kind", learning.INTENT))
    if restored is None:
        messages.error(request, "There is no earlier version to roll back to.")
    else:
        messages.success(request, f"Version {restored.pk} is live again.")
    return redirect("agents:model_versions")


@require_POST
@manager_required
def retrain(request):
    version = learning.refresh_intent_model(trigger=f"manual by {request.user.email}")
    if version is None:
        messages.error(request, "Not enough labelled examples yet (at least two intents are needed).")
    else:
        messages.success(request, f"Trained version {version.pk}: {version.get_status_display().lower()}.")
    return redirect("agents:model_versions")
