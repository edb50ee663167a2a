"""The core data model lives in one PostgreSQL database with pgvector, and protects its invariants."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from inbox.models import Outcome, OutcomeKind
from knowledge.models import Article, Chunk
from tests import factories

pytestmark = pytest.mark.django_db


def test_the_database_has_pgvector():
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        assert cursor.fetchone() is not None


def test_a_conversation_links_customer_account_and_messages_in_order():
    acct = factories.account(plan="enterprise", mrr=4900)
    cust = factories.customer(acct, attributes={"billing": {"card": "visa"}})
    convo = factories.conversation(cust, page_context={"url": "https://app.example/billing"})
    factories.message(convo, "My card was declined")
    factories.message(convo, "Sorry to hear that…", sender_kind="ai", trace={"intent": "card_declined"})
    convo.refresh_from_db()
    assert convo.account.plan == "enterprise"
    assert [m.sender_kind for m in convo.messages.all()] == ["customer", "ai"]
    assert convo.messages.last().trace["intent"] == "card_declined"
    assert cust.attributes["billing"]["card"] == "visa"


def test_a_retried_customer_message_with_the_same_client_id_is_refused():
    convo = factories.conversation(factories.customer())
    factories.message(convo, "hello", client_id="c-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.message(convo, "hello", client_id="c-1")
    factories.message(convo, "no client id")
    factories.message(convo, "no client id either")  # empty client ids never collide
    assert convo.messages.count() == 3


def test_an_outcome_of_one_kind_is_counted_once_per_reply_even_without_a_message():
    convo = factories.conversation(factories.customer())
    Outcome.objects.create(conversation=convo, kind=OutcomeKind.CSAT, reward=1, created_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        Outcome.objects.create(conversation=convo, kind=OutcomeKind.CSAT, reward=1, created_at=timezone.now())


def test_chunks_store_a_384_dimension_vector_and_a_generated_full_text_vector():
    article = Article.objects.create(title="Refunds", slug="refunds", body="x", status="published")
    Chunk.objects.create(article=article, ordinal=0, heading="Refund policy", text="Refunds within 30 days",
                         embedding=[0.1] * 384)
    chunk = Chunk.objects.get()
    assert len(chunk.embedding) == 384
    assert Chunk.objects.filter(search="refund").count() == 1  # stemmed by the english config
