"""Customers' own words find the right article: hybrid search over the demo knowledge base."""

import numpy as np
import pytest

from helpdesk.demo import content
from knowledge.models import Article
from knowledge.search import search

pytestmark = pytest.mark.django_db


def test_known_demo_questions_retrieve_their_article_in_the_top_3(demo_kb):
    slugs = {a.pk: a.import_key.removeprefix("demo:") for a in Article.objects.all()}
    asked = hits = 0
    for intent in content.intents():
        if not intent["article"]:
            continue
        for question in intent["questions"]:
            asked += 1
            found = [slugs[h.article_id] for h in search(question, k=3)]
            hits += intent["article"] in found
    assert asked > 300
    assert hits / asked >= 0.85, f"top-3 hit rate {hits / asked:.2f}"


def test_only_published_articles_are_found_and_page_area_boosts(demo_kb):
    from knowledge.actions import set_status

    article = Article.objects.get(import_key="demo:14-slack-integration")
    assert search("connect slack notifications", k=1)[0].article_id == article.pk
    set_status(article, "draft")
    assert all(h.article_id != article.pk for h in search("connect slack notifications", k=5))
    plain = search("export is wrong", k=3)
    boosted = search("export is wrong", k=3, area="known-bugs")
    assert boosted[0].area == "known-bugs"
    assert any("on a known-bugs page" in h.reasons for h in boosted) or plain[0].area == "known-bugs"


def test_an_empty_query_finds_nothing(demo_kb):
    assert search("   ") == []


def test_a_search_on_a_small_kb_is_one_round_trip_and_every_connection_scans_hnsw_iteratively(demo_kb):
    """The customer waits for every round trip: the scan setting is the connection's, not a
    transaction's, and a KB known to be small needs no statistics read first."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with connection.cursor() as cursor:
        cursor.execute("SHOW hnsw.iterative_scan")
        assert cursor.fetchone()[0] == "relaxed_order"
    search("how do I change my plan", k=3)  # learns the table's size
    with CaptureQueriesContext(connection) as queries:
        hits = search("can I get an invoice for last month", k=3)
    assert hits and len(queries.captured_queries) == 1


def test_stop_words_alone_match_no_passage_by_their_words(demo_kb):
    search("warm up the table size", k=1)
    assert all(h.text_rank is None for h in search("how do i", k=6))


def test_a_text_encoded_early_is_waited_for_and_embeds_exactly_as_if_encoded_on_demand():
    """The reply path starts encoding the customer's words on a thread (embed_soon) before it
    reads the message back; whoever asks for the vector meanwhile gets that one encode's result."""
    from knowledge import embeddings

    text = "Can I move my annual invoice date to the first of the month?"
    embeddings._memo.pop(text, None)
    embeddings.embed_soon(text)
    early = embeddings.embed_one(text)
    assert text not in embeddings._in_flight
    embeddings._memo.pop(text)
    on_demand = embeddings.embed_one(text)
    assert np.abs(early - on_demand).max() < 1e-6


def test_a_forked_process_does_not_wait_for_an_encode_started_in_its_parent():
    """A Celery worker forks its pool: an early encode in flight in the parent has no thread in the child."""
    import os
    import signal
    import time

    from knowledge import embeddings

    text = "What happens to my seats when I downgrade mid-cycle?"
    embeddings._memo.pop(text, None)
    embeddings.embed_soon(text)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: it must encode the text itself, promptly, and exit
        try:
            ok = text not in embeddings._in_flight and embeddings.embed_one(text).shape == (384,)
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    deadline = time.monotonic() + 120
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if done[0] == 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert done[0] == pid, "the forked process hung on its parent's encode"
    assert os.read(read, 1) == b"1" and done[1] == 0
    assert embeddings.embed_one(text).shape == (384,)
