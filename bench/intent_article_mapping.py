"""Which article answers an intent, before any outcome says so: centroid of questions vs. description.

On the simulation's Banking77 workspace (one article per category, titled from its name) each
intent is matched to the article whose passage is nearest to (a) the centroid of n of its
customers' questions, (b) its description, (c) description x DESCRIPTION_WEIGHT + centroid,
the ranking's prior (agents.learning.intent_targets). Reports the share of intents matched right.
"""

import csv
import random
import sys

import numpy as np
from _common import BANKING77, ROOT, write

sys.path.insert(0, str(ROOT))


def main() -> None:
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    import django

    django.setup()
    from agents.learning import DESCRIPTION_WEIGHT
    from agents.simulation import article_body, humanise
    from knowledge.chunking import chunk_markdown
    from knowledge.embeddings import embed

    rows = list(csv.DictReader(open(BANKING77 / "train.csv")))
    categories = sorted({r["category"] for r in rows})
    passages, owner = [], []
    for category in categories:
        title = humanise(category)
        for p in chunk_markdown(title, article_body(title)):
            passages.append(f"{title}. {p.heading}. {p.text}")  # as knowledge.actions embeds them
            owner.append(category)
    chunks, owner = embed(passages), np.array(owner)
    words = embed([humanise(c) for c in categories])  # the intents' descriptions

    def right(targets: np.ndarray) -> float:
        return round(float(np.mean(owner[(targets @ chunks.T).argmax(1)] == np.array(categories))), 4)

    def unit(m: np.ndarray) -> np.ndarray:
        return m / np.linalg.norm(m, axis=1, keepdims=True)

    rng = random.Random(0)
    by = {c: [r["text"] for r in rows if r["category"] == c] for c in categories}
    result = {"intents": len(categories), "description": right(words), "by_examples": {}}
    for n in (1, 3, 10, 30):
        centroid = unit(np.array([embed(rng.sample(by[c], n)).mean(0) for c in categories]))
        result["by_examples"][n] = {"centroid": right(centroid),
                                    "description_x2_plus_centroid": right(unit(centroid + DESCRIPTION_WEIGHT * words))}
    write("intent_article_mapping", result)
    top = result["by_examples"][30]
    print(f"mapping_right description={result['description']} centroid_30={top['centroid']} "
          f"blend_30={top['description_x2_plus_centroid']}")


if __name__ == "__main__":
    main()
