"""Learned answers: a human reply that resolved a conversation becomes a redacted suggestion; once a
manager approves it, it is a published article that search returns and the agent cites."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from agents.pipeline import citations
from inbox import actions as inbox
from knowledge.actions import (
    KnowledgeError,
    approve_learned_answer,
    reject_learned_answer,
    suggest_learned_answer,
)
from knowledge.models import Article, ArticleStatus, LearnedAnswer, LearnedAnswerStatus
from knowledge.search import search
from knowledge.tasks import suggest_learned_answers
from tests import factories

pytestmark = pytest.mark.django_db

DARK_QUESTION = "Can I switch Relaymark to a dark theme? The white screen hurts my eyes at night."
DARK_ANSWER = (
    "Hi Pat! Thanks for your patience.\n\n"
    "Yes: open **Profile → Appearance → Theme** and pick *Dark*, or *System* to follow your computer. "
    "It applies to the web and desktop apps; the mobile apps follow the phone's own setting.\n\n"
    "Hope this helps!\nSam"
)


def after_the_window(hours: int = 1):
    from django.conf import settings

    return timezone.now() + timedelta(hours=settings.RESOLUTION_WINDOW_HOURS + hours)


def resolved_by_human(agent, question: str, *replies: str, name="Pat Lee", email="pat@acme.example",
                      page_context=None):
    """A customer asks, an agent answers, the agent resolves: all through the inbox's own actions."""
    customer = factories.customer(factories.account(), name=name, email=email)
    message, _ = inbox.post_customer_message(customer=customer, body=question, page_context=page_context,
                                             respond=False)
    conversation = message.conversation
    for reply in replies:
        inbox.post_agent_reply(conversation, by=agent, body=reply)
    return inbox.resolve(conversation, by=agent)


@pytest.fixture
def agent(db):
    user = get_user_model().objects.create_user("sam@relaymark.example", "sam@relaymark.example", "pw-123456789",
                                                first_name="Sam", last_name="Ortiz")
    return user


# --- suggesting ---------------------------------------------------------------------------


def test_a_reply_that_resolved_a_human_conversation_becomes_one_suggestion(agent):
    conversation = resolved_by_human(agent, DARK_QUESTION, DARK_ANSWER)

    assert suggest_learned_answers(now=timezone.now()) == 0  # the customer may still come back
    assert suggest_learned_answers(now=after_the_window()) == 1

    learned = LearnedAnswer.objects.get()
    assert learned.status == LearnedAnswerStatus.SUGGESTED
    assert learned.question == DARK_QUESTION
    assert learned.answer.startswith("Yes: open **Profile → Appearance → Theme**")
    assert "Hope this helps" not in learned.answer and "Thanks for your patience" not in learned.answer
    assert (learned.conversation, learned.suggested_by, learned.times_seen) == (conversation, agent, 1)

    assert suggest_learned_answers(now=after_the_window(2)) == 0  # nothing left to do on the next run
    assert suggest_learned_answer(conversation, now=after_the_window()) == learned  # and calling again is a no-op
    learned.refresh_from_db()
    assert (LearnedAnswer.objects.count(), learned.times_seen) == (1, 1)


def test_the_last_substantive_reply_is_the_answer_and_pleasantries_are_not(agent):
    conversation = resolved_by_human(
        agent, "How do I export all my timesheets for last year?",
        "Let me check that for you.",
        "Open Timesheets, set the range to last year, then choose Export → CSV. Large ranges arrive by email.",
        "You're welcome! Glad I could help. Have a great day!",
    )
    learned = suggest_learned_answer(conversation, now=after_the_window())
    assert learned.answer == ("Open Timesheets, set the range to last year, then choose Export → CSV. "
                              "Large ranges arrive by email.")

    only_thanks = resolved_by_human(agent, "Just wanted to say the fix worked, thanks a lot!",
                                    "Great to hear! Have a lovely weekend.", email="kim@acme.example")
    assert suggest_learned_answer(only_thanks, now=after_the_window()) is None


def test_personal_data_is_redacted_before_anyone_sees_it(agent, demo_kb, client, manager_user):
    question = ("Hi, this is Pat Lee from Acme Ltd (pat@acme.example, +1 415 555 2671). "
                "Why was order #88231 charged twice on invoice INV-2024-0012?")
    reply = ("Hi Pat! I've refunded the duplicate on order #88231 to your card 4242 4242 4242 4242. "
             "Duplicate charges happen when a payment is retried after a timeout. Go to Settings → Billing to "
             "download the corrected invoice INV-2024-0012, or use this link: "
             "https://app.relaymark.example/billing/receipt?token=9f8e7d6c5b4a39281706 . "
             "Our guide is at https://relaymark.example/help/failed-payments/ and you can reach me at "
             "sam.ortiz@relaymark.example or ask Maria Gonzalez in your finance team.\n\nCheers,\nSam Ortiz")
    conversation = resolved_by_human(agent, question, reply)

    learned = suggest_learned_answer(conversation, now=after_the_window())

    assert learned.question.startswith("This is [name] from [company] ([email], [phone]). Why was order")
    text = f"{learned.question}\n{learned.answer}"
    for personal in ["Pat", "Lee", "Acme", "pat@acme.example", "415 555 2671", "88231", "INV-2024-0012", "4242",
                     "token=", "9f8e7d6c5b4a", "sam.ortiz", "Sam", "Ortiz", "Maria", "Gonzalez"]:
        assert personal not in text, personal
    for placeholder in ["[name]", "[company]", "[email]", "[phone]", "[order number]", "[invoice number]",
                        "[number]", "[link]"]:
        assert placeholder in text, placeholder
    # What is not personal stays: the product's own words and a public help link.
    assert "Go to Settings → Billing" in learned.answer
    assert "https://relaymark.example/help/failed-payments/" in learned.answer

    client.force_login(manager_user)
    page = client.get("/kb/learned/").content.decode()
    assert "[order number]" in page and "88231" not in page and "pat@acme.example" not in page


def test_a_near_duplicate_question_counts_as_another_sighting(agent):
    answer = "Open Settings → Billing → Cancel subscription. You keep access until the end of the paid period."
    first = resolved_by_human(agent, "How do I cancel my subscription?", answer, email="a@one.example")
    second = resolved_by_human(agent, "How can I cancel my subscription please?", answer, email="b@two.example")
    other = resolved_by_human(agent, "How do I add a teammate to a board?",
                              "Open the board, click Share and type their email; they get an invitation at once.",
                              email="c@three.example")

    assert suggest_learned_answers(now=after_the_window()) == 3

    cancel = LearnedAnswer.objects.get(conversation=first)
    assert cancel.times_seen == 2
    assert sorted(cancel.sources.values_list("conversation_id", flat=True)) == [first.pk, second.pk]
    assert LearnedAnswer.objects.count() == 2 and LearnedAnswer.objects.get(conversation=other).times_seen == 1
    assert suggest_learned_answer(second, now=after_the_window()) == cancel  # a sighting counts once
    cancel.refresh_from_db()
    assert cancel.times_seen == 2
    assert list(LearnedAnswer.objects.all()) == [cancel, LearnedAnswer.objects.get(conversation=other)]  # most-seen first


def test_spam_followed_up_and_ai_handled_conversations_teach_nothing(agent):
    spam = resolved_by_human(agent, "Buy cheap followers now at my site, best prices guaranteed",
                             "We do not allow advertising in support chats; this conversation is closed now.")
    inbox.mark_spam(spam, by=agent)

    followed = resolved_by_human(agent, "How do I cancel my subscription?",
                                 "Open Settings → Billing → Cancel subscription and confirm on the next screen.",
                                 email="b@two.example")
    later, _ = inbox.post_customer_message(customer=followed.customer, body="Cancelling still does not work",
                                           respond=False)
    inbox.link_follow_up(later.conversation, followed, similarity=0.9)

    customer = factories.customer(email="c@three.example")
    message, _ = inbox.post_customer_message(customer=customer, body="How do I reset my password?", respond=False)
    ai_only = inbox.resolve(message.conversation)  # the AI handled it: it has its own learning signal

    assert suggest_learned_answers(now=after_the_window()) == 0
    for conversation in (spam, followed, ai_only):
        assert suggest_learned_answer(conversation, now=after_the_window()) is None
    assert not LearnedAnswer.objects.exists()


# --- deciding -----------------------------------------------------------------------------


def test_approval_publishes_an_article_that_search_finds_and_the_agent_cites(agent, demo_kb, client, manager_user):
    conversation = resolved_by_human(agent, DARK_QUESTION, DARK_ANSWER, page_context={"area": "onboarding"})
    learned = suggest_learned_answer(conversation, now=after_the_window())
    other = Article.objects.filter(status=ArticleStatus.PUBLISHED).first()

    client.force_login(manager_user)
    response = client.post(f"/kb/learned/{learned.pk}/approve/", {
        "question": "Is there a dark mode?", "answer": learned.answer + "\n\nThe theme is saved per user.",
        "area": "onboarding"})

    learned.refresh_from_db()
    article = learned.article
    assert response.status_code == 302 and response["Location"] == f"/kb/{article.pk}/"
    assert (learned.status, learned.decided_by, learned.question) == ("approved", manager_user,
                                                                      "Is there a dark mode?")
    assert (article.title, article.status, article.area, article.author) == (
        "Is there a dark mode?", ArticleStatus.PUBLISHED, "onboarding", manager_user)
    assert article.body.endswith("The theme is saved per user.") and article.revisions.count() == 1
    assert article.chunks.exists()  # indexed at once: approved means citable now

    hits = search("how do I make the app darker at night", k=3)  # a paraphrase, among 30 demo articles
    assert article.pk in [h.article_id for h in hits]
    cited = citations([h for h in hits if h.article_id == article.pk])[0]
    assert cited["url"] == f"/help/{article.slug}/"

    client.logout()
    page = client.get(cited["url"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "Answer from our support team" in html and "Profile → Appearance → Theme" in html
    assert "Answer from our support team" not in client.get(f"/help/{other.slug}/").content.decode()


def test_a_rejected_suggestion_is_kept_with_its_reason_and_never_retrievable(agent, client, manager_user):
    conversation = resolved_by_human(agent, DARK_QUESTION, DARK_ANSWER)
    learned = suggest_learned_answer(conversation, now=after_the_window())

    with pytest.raises(KnowledgeError, match="Say why"):
        reject_learned_answer(learned, by=manager_user, reason="  ")
    client.force_login(manager_user)
    client.post(f"/kb/learned/{learned.pk}/reject/", {"reason": "Dark mode is not released yet"})

    learned.refresh_from_db()
    assert (learned.status, learned.reject_reason, learned.decided_by) == (
        "rejected", "Dark mode is not released yet", manager_user)
    assert learned.article is None and not Article.objects.exists()
    assert search("is there a dark mode?", k=3) == []
    with pytest.raises(KnowledgeError, match="already rejected"):
        approve_learned_answer(learned, by=manager_user)  # a teammate's later click changes nothing
    assert "Dark mode is not released yet" in client.get("/kb/learned/?status=rejected").content.decode()


def test_approval_validates_the_reviewers_edits(agent, manager_user):
    conversation = resolved_by_human(agent, DARK_QUESTION, DARK_ANSWER)
    learned = suggest_learned_answer(conversation, now=after_the_window())
    with pytest.raises(KnowledgeError, match="200 characters"):
        approve_learned_answer(learned, by=manager_user, question="x" * 201)
    with pytest.raises(KnowledgeError, match="body"):
        approve_learned_answer(learned, by=manager_user, answer=" \n ")
    with pytest.raises(KnowledgeError, match="area"):
        approve_learned_answer(learned, by=manager_user, area="nowhere")
    learned.refresh_from_db()
    assert learned.status == "suggested" and not Article.objects.exists()  # nothing half-done


# --- who sees what ------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in_and_customers_never_see_suggestions(agent, client):
    conversation = resolved_by_human(agent, DARK_QUESTION, DARK_ANSWER)
    learned = suggest_learned_answer(conversation, now=after_the_window())

    for path in ["/kb/learned/", f"/kb/learned/{learned.pk}/approve/", f"/kb/learned/{learned.pk}/reject/"]:
        response = client.get(path) if path == "/kb/learned/" else client.post(path, {"reason": "x"})
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    for path in ["/help/", "/help/search?q=dark+theme", "/help/search?q=switch+to+a+dark+theme"]:
        html = client.get(path).content.decode()
        assert "hurts my eyes" not in html and "Appearance" not in html
    customer = get_user_model().objects.create_user("cust@example.com", "cust@example.com", "pw-123456789")
    client.force_login(customer)
    assert client.get("/kb/learned/").status_code == 403
    learned.refresh_from_db()
    assert learned.status == "suggested"


def test_agents_read_suggestions_and_only_managers_decide(agent, client, agent_user, manager_user):
    conversation = resolved_by_human(agent, DARK_QUESTION, DARK_ANSWER)
    learned = suggest_learned_answer(conversation, now=after_the_window())

    client.force_login(agent_user)
    page = client.get("/kb/learned/").content.decode()
    assert "Profile → Appearance → Theme" in page and f"/inbox/c/{conversation.pk}/" in page
    assert "Approve and publish" not in page and "A manager or admin approves" in page
    assert client.post(f"/kb/learned/{learned.pk}/approve/").status_code == 403
    assert client.post(f"/kb/learned/{learned.pk}/reject/", {"reason": "no"}).status_code == 403
    learned.refresh_from_db()
    assert learned.status == "suggested"

    client.force_login(manager_user)
    page = client.get("/kb/learned/").content.decode()
    assert "Approve and publish" in page and 'name="reason"' in page
    assert "Asked 1 time" in page


def test_the_review_page_escapes_customer_text(agent, client, agent_user, manager_user):
    conversation = resolved_by_human(
        agent, 'Why does <script>alert("q")</script> show up on my board header?',
        'That text comes from a card title. Rename the card <img src=x onerror=alert("a")> and it goes away.')
    suggest_learned_answer(conversation, now=after_the_window())
    for user in (manager_user, agent_user):  # one sees text areas, the other rendered Markdown
        client.force_login(user)
        html = client.get("/kb/learned/").content.decode()
        assert "<script>alert" not in html and "<img src=x onerror" not in html
        assert "&lt;script&gt;alert" in html


def test_the_empty_review_page_says_what_it_is_for(client, agent_user):
    client.force_login(agent_user)
    html = client.get("/kb/learned/").content.decode()
    assert "No suggestions to review" in html and "does not come back within 72 hours" in html
    assert "Learned answers" in client.get("/kb/").content.decode()


def test_nul_characters_in_the_reviewers_text_are_removed_before_saving(agent, client, manager_user):
    approved = suggest_learned_answer(resolved_by_human(agent, DARK_QUESTION, DARK_ANSWER), now=after_the_window())
    rejected = suggest_learned_answer(
        resolved_by_human(agent, "How do I export my board as a PDF file for a printed report?",
                          "Open the board menu and choose **Export → PDF**; the file downloads at once.",
                          email="kim@other.example"), now=after_the_window())
    client.force_login(manager_user)

    client.post(f"/kb/learned/{approved.pk}/approve/", {"question": "Is there a dark\x00 mode?",
                                                        "answer": "Yes\x00: Profile → Appearance.", "area": ""})
    client.post(f"/kb/learned/{rejected.pk}/reject/", {"reason": "Account\x00-specific"})

    approved.refresh_from_db()
    rejected.refresh_from_db()
    assert (approved.status, approved.article.title, approved.article.body) == (
        "approved", "Is there a dark mode?", "Yes: Profile → Appearance.")
    assert (rejected.status, rejected.reject_reason) == ("rejected", "Account-specific")
