"""Frustration score for a customer message (pure Python, no Django).

``frustration_score(text) -> float`` in [0, 1]; higher means more frustrated or
angry.  Deterministic and cheap (well under 1 ms after the first call), so it
can run on every inbound message to drive escalation / tone decisions.

The score is a capped sum of independent signals, each there for a reason:

* **VADER negativity** (``vaderSentiment``'s shipped lexicon and rules).  A
  general-purpose, social-media-tuned valence model: it already handles
  negation ("not happy"), intensifiers ("really bad") and emphasis, so it is
  the base signal.  Only its negative side counts: a positive message is not
  "negatively frustrated", and VADER's positivity on polite complaints
  ("thanks, but it still fails") must not cancel the complaint.
* **Support-specific frustration phrases** ("third time", "still not
  working", "cancel my account", "speak to a human", "ridiculous", "waste of
  time", "unacceptable"...).  VADER is trained on general text and scores many
  of these as neutral, yet in a helpdesk they are the strongest predictors of
  churn and escalation: repetition (the issue keeps coming back), threats to
  leave, and asking for a person (the bot/agent is failing them).
* **Profanity**.  Swearing at a vendor is a direct anger marker; VADER knows
  some words but not their abbreviations ("wtf", "ffs") or masked forms.
* **SHOUTING** (share of ALL-CAPS words, ignoring short acronyms such as
  "API" or "SSO").  Writing in capitals is the written equivalent of raising
  one's voice.
* **Repeated punctuation** ("!!!", "???", "?!").  Marks exasperation; a
  single "!" or "?" is ordinary and does not count.
* **Urgency words** ("asap", "urgent", "immediately", "right now").  Urgency
  alone is not anger, so it carries a small weight, but it raises the score
  of an already negative message.

Weights were set by hand so that a calm question scores < 0.1, a plain
complaint ~0.3-0.5, and an angry escalation > 0.7.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["frustration_score", "frustration_signals"]

_ANALYZER = None


def _vader():
    global _ANALYZER
    if _ANALYZER is None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        _ANALYZER = SentimentIntensityAnalyzer()
    return _ANALYZER


# phrase -> weight.  Word-bounded, case-insensitive; "n't"/"not" variants folded.
_PHRASES: dict[str, float] = {
    # repetition: the problem keeps coming back
    r"(?:second|third|fourth|fifth|\d+(?:st|nd|rd|th)) time": 0.25,
    r"(?:again and again|over and over|yet again|once again)": 0.2,
    r"(?:still|keeps?|kept) (?:not )?(?:working|broken|failing|crashing|happening|getting|charging)": 0.2,
    r"still (?:not|doesn'?t|does not|isn'?t|is not|can'?t|cannot|won'?t|haven'?t|hasn'?t|no)": 0.25,
    r"(?:not|isn'?t|doesn'?t) (?:working|work) (?:again|at all)": 0.2,
    r"(?:how many times|for (?:the )?(?:last|past) \d+ (?:days|weeks|hours))": 0.2,
    r"(?:no one|nobody|no-one) (?:has )?(?:replied|responded|answered|got back|helped|cares)": 0.25,
    r"(?:been waiting|waiting for (?:days|weeks|hours|ages)|for ages)": 0.15,
    # threats to leave / escalate
    r"(?:cancel|close|terminate) (?:my|our|the) (?:account|subscription|contract|plan)": 0.3,
    r"(?:switch(?:ing)? to|move to|moving to|go(?:ing)? with) (?:a )?(?:competitor|another (?:provider|vendor|tool))": 0.3,
    r"(?:refund|money back|chargeback|dispute the charge)": 0.1,
    r"(?:lawyer|legal action|sue you|small claims|report you|trading standards|ombudsman)": 0.35,
    r"(?:leave|write) (?:a )?(?:bad|negative|1[- ]star|one[- ]star) review": 0.3,
    # the agent is failing them
    r"(?:speak|talk|chat) (?:to|with) (?:a |an )?(?:human|real person|person|manager|supervisor|someone (?:real|competent))": 0.3,
    r"(?:real|actual) (?:human|person)": 0.2,
    r"(?:useless|pointless|stupid) (?:bot|chatbot|ai|machine|system|answer|support)": 0.3,
    r"(?:not|isn'?t) (?:helpful|helping)": 0.2,
    r"(?:you (?:people|guys) )?(?:don'?t|do not|never) (?:listen|understand|care|read)": 0.25,
    # evaluative words VADER under-weights in support context
    r"(?:ridiculous|unacceptable|outrageous|absurd|pathetic|incompetent|joke|disgrace(?:ful)?|appalling|shambles)": 0.3,
    r"(?:waste of (?:my )?(?:time|money)|wasted (?:my )?(?:time|hours|day))": 0.3,
    r"(?:fed up|sick (?:and tired )?of|had enough|tired of|frustrat\w*|annoy\w*|furious|livid|angry|pissed)": 0.3,
    r"(?:worst|terrible|horrible|awful) (?:service|support|experience|company|product)": 0.3,
    r"(?:unbelievable|seriously\?|are you (?:kidding|serious)|come on)": 0.2,
}
_PHRASE_RX = [(re.compile(rf"\b{p}\b", re.I), w) for p, w in _PHRASES.items()]

_PROFANITY = re.compile(
    r"\b(?:f+u+c+k+\w*|f\*+k\w*|f\*+\w*|sh[i1]t+\w*|s\*+t|crap+y?|damn\w*|bloody|bullshit|bs|wtf|ffs|omfg|"
    r"hell|bastard\w*|ass(?:hole)?s?|a\*+|dick\w*|piss\w*|screw(?:ed)? (?:you|this|up)|sucks?|goddamn\w*)\b",
    re.I,
)
_URGENCY = re.compile(r"\b(?:asap|urgent(?:ly)?|immediately|right now|right away|at once|emergency|critical)\b", re.I)
_REPEAT_PUNCT = re.compile(r"(?:[!?]\s*){2,}")
_WORD = re.compile(r"[A-Za-z][A-Za-z']*")


@lru_cache(maxsize=4096)
def frustration_signals(text: str) -> dict[str, float]:
    """The individual signal values behind :func:`frustration_score` (for logging/debugging)."""
    if not text or not text.strip():
        return {"vader_neg": 0.0, "phrases": 0.0, "profanity": 0.0, "caps": 0.0, "punct": 0.0, "urgency": 0.0}
    vs = _vader().polarity_scores(text)
    compound = vs["compound"]
    vader_neg = max(0.0, -compound)  # 0..1, only the negative side

    phrases = sum(w for rx, w in _PHRASE_RX if rx.search(text))
    n_prof = len(_PROFANITY.findall(text))
    profanity = min(1.0, 0.35 * n_prof)

    words = _WORD.findall(text)
    long_words = [w for w in words if len(w) >= 4]  # "API", "SSO", "I" are not shouting
    caps_words = [w for w in long_words if w.isupper()]
    caps = 0.0
    if len(caps_words) >= 2 or (caps_words and len(long_words) <= 3):
        caps = len(caps_words) / max(1, len(long_words))

    runs = _REPEAT_PUNCT.findall(text)
    punct = min(1.0, sum(len(re.sub(r"\s", "", r)) - 1 for r in runs) / 4) if runs else 0.0
    urgency = 1.0 if _URGENCY.search(text) else 0.0
    return {"vader_neg": vader_neg, "phrases": min(1.0, phrases), "profanity": profanity,
            "caps": caps, "punct": punct, "urgency": urgency}


def frustration_score(text: str) -> float:
    """Return a frustration/anger score in [0, 1] (higher = more frustrated).

    See the module docstring for what each signal captures.  Deterministic:
    the same text always gives the same score.
    """
    s = frustration_signals(text or "")
    raw = (
        0.45 * s["vader_neg"]
        + 0.55 * s["phrases"]
        + 0.35 * s["profanity"]
        + 0.25 * s["caps"]
        + 0.15 * s["punct"]
        + 0.07 * s["urgency"]
    )
    return round(max(0.0, min(1.0, raw)), 4)
