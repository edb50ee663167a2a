"""The ranking learner: which article resolves this intent, for this kind of customer, on this page.

A Beta-Bernoulli bandit per (intent, article, segment), sampled by Thompson sampling. The
prior comes from the retrieval rank, so a brand-new article starts where search puts it
and gets explored; outcomes move the posterior at once, so the very next retrieval changes.
Finer segments (plan, page area) are used only once they have evidence; before that the
intent-wide counts decide (back-off).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from agents.models import AppliedSignal, ArticleStat

# The prior is worth 16 observations: without evidence search order wins ~97% of the time,
# yet a handful of outcomes is enough to overturn it.
PRIOR_STRENGTH = 16.0
PRIOR_DECAY = 0.7  # prior mean 0.5 for search's first pick, 0.25 for the second, 0.12 for the third
MIN_SEGMENT_EVIDENCE = 6.0
CUSTOMER_CAP = 3  # signals one customer may add for one article: nobody steers the ranking alone
FAILING_MEAN = 0.2  # posterior mean under this, with evidence, means "this answer does not work"
FAILING_EVIDENCE = 6.0


@dataclass
class Scored:
    article_id: int
    prior: float
    successes: float
    failures: float
    level: str
    sample: float

    @property
    def mean(self) -> float:
        a = self.prior * PRIOR_STRENGTH + self.successes
        b = (1 - self.prior) * PRIOR_STRENGTH + self.failures
        return a / (a + b)

    @property
    def failing(self) -> bool:
        """Judged on what customers said, not on the prior: the prior must not shield a bad article."""
        n = self.successes + self.failures
        return n >= FAILING_EVIDENCE and self.successes / n < FAILING_MEAN


def segments(context: dict) -> list[str]:
    out = []
    if context.get("plan"):
        out.append(f"plan:{context['plan']}")
    if context.get("area"):
        out.append(f"area:{context['area']}")
    return out


def _stats(intent: str, article_ids: list[int], segs: list[str]) -> dict[tuple[int, str], ArticleStat]:
    rows = ArticleStat.objects.filter(intent=intent, article_id__in=article_ids, segment__in=["", *segs])
    return {(row.article_id, row.segment): row for row in rows}


def proven_articles(intent: str, limit: int = 3) -> list[int]:
    """Articles that have resolved this intent before, best first: candidates even if search missed them."""
    rows = ArticleStat.objects.filter(intent=intent, segment="", successes__gt=0).order_by(
        (F("failures") - F("successes")).asc()
    )[:limit]
    return [row.article_id for row in rows]


def score(intent: str, ranked_article_ids: list[int], context: dict, rng: random.Random) -> list[Scored]:
    """Thompson-sample each candidate article; index in `ranked_article_ids` is its retrieval rank."""
    segs = segments(context)
    # Without an intent there is no bandit to consult: outcomes are only kept per intent.
    stats = _stats(intent, ranked_article_ids, segs) if settings.LEARNING_ENABLED and intent else {}
    out = []
    for rank, article_id in enumerate(ranked_article_ids):
        prior = 0.5 * math.exp(-PRIOR_DECAY * rank)
        chosen, level = stats.get((article_id, "")), "intent"
        for seg in segs:  # the finest level with enough evidence wins
            row = stats.get((article_id, seg))
            if row and row.successes + row.failures >= MIN_SEGMENT_EVIDENCE:
                chosen, level = row, seg
        s, f = (chosen.successes, chosen.failures) if chosen else (0.0, 0.0)
        out.append(Scored(article_id, prior, s, f, level if chosen else "prior", prior))
    if any(x.level != "prior" for x in out):
        # Explore only once this intent has evidence: with none at all, search order is the
        # best guess there is, and a customer should not get a random second-best answer.
        for x in out:
            a = x.prior * PRIOR_STRENGTH + x.successes
            b = (1 - x.prior) * PRIOR_STRENGTH + x.failures
            x.sample = rng.betavariate(a, b)
    out.sort(key=lambda x: x.sample, reverse=True)
    return out


def apply_signal(*, outcome_id: int, customer_id: int | None, intent: str, article_id: int | None,
                 segs: list[str], reward: float) -> bool:
    """Apply one outcome to the statistics, exactly once, within the customer's influence cap."""
    if not settings.LEARNING_ENABLED:
        return False
    with transaction.atomic():
        counted = article_id is not None and reward != 0 and bool(intent)
        if counted and customer_id is not None:
            already = AppliedSignal.objects.filter(customer_id=customer_id, article_id=article_id, counted=True).count()
            counted = already < CUSTOMER_CAP
        try:
            with transaction.atomic():
                AppliedSignal.objects.create(outcome_id=outcome_id, customer_id=customer_id, article_id=article_id,
                                             reward=reward, counted=counted)
        except IntegrityError:
            return False  # a replay
        if not counted:
            return False
        for seg in ["", *segs]:
            row, _ = ArticleStat.objects.get_or_create(intent=intent, article_id=article_id, segment=seg)
            ArticleStat.objects.filter(pk=row.pk).update(
                successes=F("successes") + max(reward, 0.0), failures=F("failures") + max(-reward, 0.0)
            )
    return True
