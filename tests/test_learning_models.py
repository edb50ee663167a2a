"""The intent model learns from labels with no manual step, is guarded, can be rolled back,
and a short simulation through the real product improves with learning on and not with it off."""

import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from agents import learning
from agents.actions import add_intent_example
from agents.models import ModelStatus, ModelVersion
from agents.tasks import refresh_intent_model_if_due
from inbox import actions
from inbox.models import Customer, Label, Message, Site
from tests.conftest import make_staff

DATA = Path(__file__).resolve().parent / "data"
pytestmark = pytest.mark.django_db


def label(text: str, intent: str, agent) -> None:
    """What an agent does in the inbox: a customer message, then the intent correction."""
    customer = Customer.objects.create(site=Site.objects.first(), created_at=timezone.now())
    message, _ = actions.post_customer_message(customer=customer, body=text, respond=False)
    actions.correct_intent(message.conversation, intent=intent, by=agent)


def test_a_new_intent_appears_as_soon_as_agents_use_it_and_changes_the_next_prediction(demo_kb):
    agent = make_staff("labeller@example.com", "agent")
    question = "can I pay my invoice in bitcoin or other crypto currency"
    before, _ = learning.predict_intent(question)
    assert before.intent != "crypto_payment"
    label(question, "crypto_payment", agent)
    assert learning.refresh_due()  # a label the live model has never seen
    refresh_intent_model_if_due()
    after, _ = learning.predict_intent("is paying an invoice with bitcoin or crypto possible?")
    assert "crypto_payment" in learning.load_model(learning.live_version("intent")).labels
    assert after.top[0][0] == "crypto_payment"


def test_a_background_refresh_that_finds_another_under_way_leaves_the_labels_to_it(demo_kb):
    from django.core.cache import cache

    label("can I pay my invoice in bitcoin or other crypto currency", "crypto_payment",
          make_staff("labeller@example.com", "agent"))
    versions = ModelVersion.objects.count()
    with learning.refresh_slot() as mine:  # another worker process is fitting
        assert mine and learning.refresh_due()
        assert refresh_intent_model_if_due() is None
        assert ModelVersion.objects.count() == versions
    assert cache.get(learning.REFRESH_SLOT) is None
    assert refresh_intent_model_if_due() is not None  # the next trigger, once the slot is free
    assert cache.get(learning.REFRESH_SLOT) is None


def test_the_model_learns_from_labels_in_the_order_agents_gave_them(demo_kb):
    # The fit depends on the order of its examples, so two runs of the same stream fit the same model
    # only if that order is the labels' own, not the order their rows happen to lie in the table.
    agent = make_staff("labeller@example.com", "agent")
    label("can I pay my invoice in bitcoin", "crypto_payment", agent)
    label("my card never arrived in the post", "card_arrival", agent)
    first = Label.objects.order_by("id").first()
    # New row versions of the first label and its message: in the tables they now lie after the second's.
    Label.objects.filter(pk=first.pk).update(value=first.value)
    Message.objects.filter(pk=first.message_id).update(body=first.message.body)
    labelled = [text for text, _, source, _ in learning.training_examples()[0] if source == learning.AGENT_LABEL]
    assert labelled == ["can I pay my invoice in bitcoin", "my card never arrived in the post"]


def test_a_candidate_that_scores_worse_on_the_held_back_slice_is_refused(demo_kb):
    live = learning.live_version("intent")
    # Poison the training side only: outside the held-back slice, every example gets the next
    # intent's name, so the candidate learns a systematic mistake the slice will expose.
    from agents.models import Intent, IntentExample

    intents = list(Intent.objects.order_by("name"))
    shift = {a.pk: b for a, b in zip(intents, intents[1:] + intents[:1], strict=True)}
    n = IntentExample.objects.count() + 1  # with the one added below
    for example in IntentExample.objects.all():
        if not learning._held_back(example.text, n):
            example.intent = shift[example.intent_id]
            example.save(update_fields=["intent"])
    add_intent_example("change_plan", "switch us to the growth plan please", retrain=False)
    candidate = learning.refresh_intent_model(trigger="test")
    assert candidate.status == ModelStatus.REJECTED
    assert learning.live_version("intent").pk == live.pk
    assert "kept the live model" in candidate.note


def test_a_refresh_keeps_the_calibration_until_the_intents_change(demo_kb):
    live = learning.load_model(learning.live_version("intent"))
    add_intent_example("change_plan", "switch us to the growth plan please", retrain=False)
    same_intents = learning.refresh_intent_model(trigger="test")
    kept = learning.load_model(same_intents)
    assert (kept.temperature, kept.abstain_threshold) == (live.temperature, live.abstain_threshold)
    assert same_intents.metrics["calibrated_on"] == live.calibrated_n < same_intents.n_examples

    label("can I pay my invoice in bitcoin or other crypto currency", "crypto_payment",
          make_staff("labeller@example.com", "agent"))
    new_intent = learning.refresh_intent_model(trigger="test")
    assert new_intent.metrics["calibrated_on"] == new_intent.n_examples  # refitted for the new intent


def test_rollback_makes_the_previous_version_live_again(demo_kb):
    first = learning.live_version("intent")
    add_intent_example("change_plan", "please move our workspace to Enterprise", retrain=False)
    second = learning.refresh_intent_model(trigger="test")
    learning.promote(second)
    assert learning.live_version("intent").pk == second.pk
    restored = learning.rollback("intent")
    assert restored.pk == first.pk
    assert learning.live_version("intent").pk == first.pk
    assert ModelVersion.objects.get(pk=second.pk).status == ModelStatus.RETIRED


def _short_simulation(tmp_path, learning_mode: str) -> dict:
    out = tmp_path / f"sim-{learning_mode}.json"
    call_command("simulate_learning", "--train", str(DATA / "banking77_cards_train.csv"),
                 "--test", str(DATA / "banking77_cards_test.csv"), "--stream", "200", "--noise", "0.1",
                 "--eval-every", "100", "--learning", learning_mode, "--out", str(out),
                 "--labels-out", str(tmp_path / "labels.jsonl"), verbosity=0)
    result = json.loads(out.read_text())
    # The label set the run ended with, one row per example, agrees with the summary of its quality.
    rows = [json.loads(line) for line in (tmp_path / "labels.jsonl").read_text().splitlines()]
    assert {source: len([r for r in rows if r["source"] == source]) for source in result["labels"]} == {
        source: quality["examples"] for source, quality in result["labels"].items()}
    assert sum(r["source"] == "agent_label" for r in rows) == result["human_labels"]
    assert all(r["decision_probability"] is None for r in rows if not r["source"].startswith("confirmed_outcome"))
    assert result["stream"] == 200 and len(result["curve"]) == 2
    # The keys DESIGN.md promises to benchmarks and external evaluation.
    assert {"resolution_rate_first_500", "resolution_rate_last_1000", "signal_resolution_rate_last_1000",
            "handoffs", "human_labels", "test_accuracy_start", "test_accuracy_end", "curve",
            "wall_seconds"} <= set(result)
    # 200 conversations: "the last 1,000" is all of them, and each ends handed off or resolved on the
    # customer's word.
    assert result["signal_resolution_rate_last_1000"] == round(1 - result["handoffs"] / 200, 4)
    return result


@pytest.mark.django_db(transaction=True)
def test_a_short_simulation_improves_only_with_learning_on(tmp_path):
    # Same stream, same seed, same noisy customers, four look-alike card intents that search alone
    # mostly confuses: only the learning switch differs.
    off = _short_simulation(tmp_path, "off")
    on = _short_simulation(tmp_path, "on")
    assert off["resolution_rate_second_half"] <= off["resolution_rate_first_half"] + 0.05  # flat
    # Nothing was learned: the model stays the one the intents' descriptions made before the stream.
    assert off["test_accuracy_end"] == off["test_accuracy_start"]
    assert on["resolution_rate_second_half"] > on["resolution_rate_first_half"]
    assert on["resolution_rate_second_half"] >= off["resolution_rate_second_half"] + 0.1
    assert on["test_accuracy_end"] > 0.8 and on["test_accuracy_end"] > on["test_accuracy_start"] + 0.2
    # Refreshed during the stream (fitted on a second process, as a worker would) and never with learning off.
    assert on["retrains"]["intent_models_trained"] > 2 and off["retrains"]["intent_models_trained"] == 1
    # Its top guess is scored too: right at least as often, and only abstentions can make the difference.
    # (each figure is rounded to 4 places)
    top1, strict, abstained = on["test_top1_accuracy_end"], on["test_accuracy_end"], on["test_abstain_rate_end"]
    assert strict <= top1 <= strict + abstained + 2e-4


@pytest.mark.django_db(transaction=True)
def test_the_same_simulation_run_twice_draws_the_same_curve(tmp_path):
    # The improvement curve is evidence only if anyone who runs the command again gets it again:
    # every figure but the clock's is the same.
    first, second = _short_simulation(tmp_path, "on"), _short_simulation(tmp_path, "on")
    for result in (first, second):
        result.pop("wall_seconds")
        result["retrains"] = {k: v for k, v in result["retrains"].items() if "seconds" not in k}
    assert first == second


def test_an_example_counts_in_the_fit_as_much_as_its_weight():
    """Labels of unequal trust (bench/label_noise_validation.py compares weightings) pull unequally."""
    from agents.intent_model import IntentModel
    from knowledge.embeddings import embed

    arrival = ["where is my new card", "my card has not arrived", "when will my card come", "card still not here"]
    cancel = ["cancel my card", "I want to cancel the card", "close my card please", "stop my card"]
    texts, labels = arrival + cancel, ["card_arrival"] * 4 + ["cancel_card"] * 4

    def p_arrival(weights):
        model = IntentModel.fit(texts, labels, embed=embed, seed=0, weights=weights)
        p, _ = model.predict_proba(["my card"], embed=embed)
        return p[0][model.labels.index("card_arrival")]

    assert p_arrival([4.0] * 4 + [0.25] * 4) > p_arrival([0.25] * 4 + [4.0] * 4)
    with pytest.raises(ValueError):
        IntentModel.fit(texts, labels, embed=embed, weights=[1.0])
