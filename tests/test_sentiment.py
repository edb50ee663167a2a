"""Specification of agents.sentiment.frustration_score (no Django needed)."""


import pytest

from agents.sentiment import frustration_score, frustration_signals

CALM = "Hi, how do I add a teammate to my workspace?"
ANGRY = "This is the THIRD TIME I'm reporting this and it's STILL NOT WORKING!!! Ridiculous."


def test_score_is_between_zero_and_one():
    for text in ["", CALM, ANGRY, "F*** THIS!!!!!! " * 20]:
        assert 0.0 <= frustration_score(text) <= 1.0


def test_angry_message_scores_higher_than_calm_one():
    assert frustration_score(ANGRY) > frustration_score(CALM) + 0.4
    assert frustration_score(CALM) < 0.1
    assert frustration_score(ANGRY) > 0.6


def test_plain_complaint_sits_in_between():
    complaint = "The CSV export fails with a timeout error, can you check?"
    assert frustration_score(CALM) < frustration_score(complaint) < frustration_score(ANGRY)


@pytest.mark.parametrize("phrase", [
    "I want to cancel my account.",
    "Let me speak to a human.",
    "It is still not working.",
    "This is the third time I ask.",
    "This is ridiculous.",
])
def test_support_specific_phrases_raise_the_score(phrase):
    assert frustration_score(phrase) > frustration_score("I have a question about exports.")


def test_shouting_and_repeated_punctuation_raise_the_score():
    base = "the invoice is wrong"
    assert frustration_score("THE INVOICE IS WRONG") > frustration_score(base)
    assert frustration_score(base + "!!!") > frustration_score(base + ".")
    assert frustration_signals("Our SSO and API keys") ["caps"] == 0.0  # acronyms are not shouting


def test_profanity_raises_the_score():
    assert frustration_score("wtf, the sync broke") > frustration_score("the sync broke")


def test_the_score_is_deterministic():
    assert frustration_score(ANGRY) == frustration_score(ANGRY)
