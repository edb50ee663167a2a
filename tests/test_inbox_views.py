"""The agents' inbox pages: queues, filters, search, counts, access for every page, escaping, refusals."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from inbox import actions
from inbox.models import Conversation, Draft, Label, Message, Team
from tests import factories
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db

XSS = "<script>alert(1)</script>"


def customer_says(cust, body, **kw):
    """A customer message through the real write path (indexes the text for search), without the AI."""
    message, _ = actions.post_customer_message(customer=cust, body=body, respond=False, **kw)
    return Conversation.objects.get(pk=message.conversation_id)


def handed_off(cust, body="I need a person about my invoice", reason="customer_request"):
    convo = customer_says(cust, body)
    return actions.hand_off(convo, reason, note="the customer asked for a human", customer_notice="A teammate will reply.",
                            trace={"decision": "handoff", "why": "the customer asked for a human",
                                   "intent": "billing_invoice", "confidence": 0.41,
                                   "top_intents": [["billing_invoice", 0.41], ["refund_request", 0.3]],
                                   "entities": [], "retrieved": []},
                            intent="billing_invoice", confidence=0.41)


def rows(response) -> list[int]:
    return [int(x) for x in re.findall(r'<tr class="row[^"]*" data-href="/inbox/c/(\d+)/"', response.content.decode())]


@pytest.fixture
def signed_in(client, agent_user):
    client.force_login(agent_user)
    return client


# ---------------------------------------------------------------- queues, counts, filters, search


def test_each_queue_lists_its_conversations_and_the_counts_match(signed_in, agent_user):
    cust = factories.customer(factories.account())
    needs = handed_off(cust)
    mine = factories.conversation(cust, subject="mine", assignee=agent_user)
    resolved = factories.conversation(cust, subject="done", status="resolved")
    snoozed = factories.conversation(cust, subject="later", snoozed_until=timezone.now() + timezone.timedelta(hours=1))

    assert rows(signed_in.get("/inbox/")) == [needs.pk]  # "Needs a human" is the default queue
    assert rows(signed_in.get("/inbox/?queue=mine")) == [mine.pk]
    assert rows(signed_in.get("/inbox/?queue=unassigned")) == [needs.pk]
    assert set(rows(signed_in.get("/inbox/?queue=open"))) == {needs.pk, mine.pk}
    assert rows(signed_in.get("/inbox/?queue=snoozed")) == [snoozed.pk]
    assert rows(signed_in.get("/inbox/?queue=resolved")) == [resolved.pk]

    counts = signed_in.get("/inbox/counts/").content.decode()
    found = dict(re.findall(r'data-queue="(\w+)"[^>]*>[^<]*<span class="count">(\d+)</span>', counts))
    assert found == {"needs_human": "1", "mine": "1", "unassigned": "1", "open": "2", "snoozed": "1", "resolved": "1"}


@pytest.mark.parametrize("param, value, expected", [
    ("plan", "enterprise", "big"), ("intent", "refund_request", "big"), ("channel", "email", "small"),
    ("status", "pending", "small"),
])
def test_filters_by_plan_intent_channel_and_status(signed_in, param, value, expected):
    big = factories.conversation(factories.customer(factories.account("Big Co", plan="enterprise")),
                                 intent="refund_request")
    small = factories.conversation(factories.customer(factories.account("Small Co", plan="free"), email="s@x.example"),
                                   channel="email", status="pending")
    wanted = {"big": big, "small": small}[expected]
    assert rows(signed_in.get(f"/inbox/?queue=open&{param}={value}")) == [wanted.pk]


def test_filter_by_account(signed_in):
    acct = factories.account("Globex")
    convo = factories.conversation(factories.customer(acct))
    factories.conversation(factories.customer(factories.account("Initech"), email="o@x.example"))
    assert rows(signed_in.get(f"/inbox/?queue=open&account={acct.pk}")) == [convo.pk]


def test_full_text_search_finds_words_the_customer_wrote(signed_in):
    cust = factories.customer()
    refund = customer_says(cust, "Please refund the duplicate charge on my invoice")
    actions.resolve(refund)
    other = customer_says(factories.customer(email="o@x.example"), "How do I invite teammates?")
    assert rows(signed_in.get("/inbox/?queue=resolved&q=refunds")) == [refund.pk]  # stemmed
    assert rows(signed_in.get("/inbox/?queue=open&q=invite")) == [other.pk]
    assert rows(signed_in.get("/inbox/?queue=open&q=refund")) == []


def test_an_htmx_request_gets_only_the_list_partial(signed_in):
    handed_off(factories.customer())
    response = signed_in.get("/inbox/?queue=needs_human", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="conversation-list"') and "<html" not in html


def test_new_customer_messages_are_unread_until_the_agent_opens_the_conversation(signed_in):
    convo = handed_off(factories.customer())
    assert 'class="row unread"' in signed_in.get("/inbox/").content.decode()
    signed_in.get(f"/inbox/c/{convo.pk}/")
    assert 'class="row unread"' not in signed_in.get("/inbox/").content.decode()
    customer_says(convo.customer, "any news?", conversation=convo)
    html = signed_in.get("/inbox/").content.decode()
    assert 'class="row unread"' in html and 'aria-label="1 unread"' in html


# ---------------------------------------------------------------- access for every page

GET_PAGES = ["/inbox/", "/inbox/counts/", "/inbox/c/{id}/", "/inbox/c/{id}/part/thread/", "/inbox/c/{id}/part/head/",
             "/inbox/c/{id}/part/draft/", "/inbox/c/{id}/part/workspace/"]
POST_PAGES = ["reply", "note", "suggest", "intent", "entities", "answer", "flag-article", "escalate", "assign",
              "status", "snooze", "drafts/{draft}/reject"]


@pytest.fixture
def team_conversation():
    convo = factories.conversation(factories.customer(), team=Team.objects.create(name="VIP"), needs_human=True)
    draft = Draft.objects.create(conversation=convo, body="hi", created_at=timezone.now())
    return convo, draft


def _urls(convo, draft):
    gets = [u.format(id=convo.pk) for u in GET_PAGES]
    posts = [f"/inbox/c/{convo.pk}/{p.format(draft=draft.pk)}/" for p in POST_PAGES]
    return gets, posts


def test_anonymous_visitors_are_sent_to_sign_in_from_every_page(client, team_conversation):
    gets, posts = _urls(*team_conversation)
    for url in gets:
        assert client.get(url).headers["Location"].startswith("/accounts/login/"), url
    for url in posts:
        assert client.post(url).headers["Location"].startswith("/accounts/login/"), url


def test_a_user_without_a_staff_role_is_refused_everywhere(client, team_conversation):
    user = get_user_model().objects.create_user("x@example.com", "x@example.com", "pw-123456789", is_staff=True)
    client.force_login(user)
    gets, posts = _urls(*team_conversation)
    assert all(client.get(url).status_code == 403 for url in gets)
    assert all(client.post(url).status_code == 403 for url in posts)


def test_another_teams_conversation_is_404_on_every_page_and_nothing_changes(signed_in, team_conversation):
    convo, draft = team_conversation
    gets, posts = _urls(convo, draft)
    for url in gets[2:]:
        assert signed_in.get(url).status_code == 404, url
    for url in posts:
        assert signed_in.post(url, {"body": "hi", "status": "resolved", "to": "me", "reason": "bug",
                                    "intent": "x", "until": "1h"}).status_code == 404, url
    convo.refresh_from_db()
    assert convo.status == "open" and convo.assignee is None and convo.version == 0
    assert not Message.objects.filter(conversation=convo).exists() and not Label.objects.exists()


def test_a_team_member_and_a_manager_may_open_a_team_conversation(client, agent_user, manager_user, team_conversation):
    convo, _ = team_conversation
    client.force_login(manager_user)
    assert client.get(f"/inbox/c/{convo.pk}/").status_code == 200
    convo.team.members.add(agent_user)
    client.force_login(agent_user)
    assert client.get(f"/inbox/c/{convo.pk}/").status_code == 200


def test_state_changes_are_post_only_and_need_the_csrf_token(client, agent_user):
    from django.test import Client

    convo = handed_off(factories.customer())
    client.force_login(agent_user)
    assert client.get(f"/inbox/c/{convo.pk}/status/?status=resolved").status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(agent_user)
    assert strict.post(f"/inbox/c/{convo.pk}/status/", {"status": "resolved"}).status_code == 403
    convo.refresh_from_db()
    assert convo.status == "open"


def test_an_unknown_part_is_404(signed_in):
    convo = handed_off(factories.customer())
    assert signed_in.get(f"/inbox/c/{convo.pk}/part/secrets/").status_code == 404


# ---------------------------------------------------------------- the conversation page


def test_customer_supplied_text_is_escaped_everywhere_on_the_page(signed_in, agent_user):
    acct = factories.account(name=f"Acme {XSS}", attributes={"tier": XSS})
    cust = factories.customer(acct, name=f"Eve {XSS}", attributes={"crm_note": XSS})
    convo = customer_says(cust, f"hello {XSS}", page_context={"url": f"https://x.example/{XSS}", "title": XSS})
    actions.post_ai_reply(convo, f"answer {XSS}", trace={"decision": "answer", "why": XSS, "intent": "x",
                                                          "confidence": 0.9, "top_intents": [[XSS, 0.9]],
                                                          "entities": [{"text": XSS, "label": "ORG"}],
                                                          "retrieved": [{"article_id": 1, "title": XSS}]})
    actions.add_note(convo, by=agent_user, body=f"note {XSS}")
    Draft.objects.create(conversation=convo, body=f"draft {XSS}", created_at=timezone.now(),
                         trace={"why": XSS})
    Conversation.objects.filter(pk=convo.pk).update(subject=XSS, intent=XSS)
    for url in (f"/inbox/c/{convo.pk}/", "/inbox/?queue=open"):
        html = signed_in.get(url).content.decode()
        assert "<script>alert(1)" not in html, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, url


def test_the_page_explains_the_ai_decision_in_plain_words(signed_in, agent_user):
    convo = handed_off(factories.customer())
    html = signed_in.get(f"/inbox/c/{convo.pk}/").content.decode()
    assert "Handed off to a human: Customer asked for a human" in html
    assert "Understood the intent as <strong>billing_invoice</strong> with 41% confidence" in html
    assert "refund_request (30%)" in html
    assert 'value="refund_request"' in html  # one-click correction among the top guesses


def test_macros_are_filled_with_customer_account_and_agent_variables(signed_in, agent_user):
    agent_user.first_name = "Sam"
    agent_user.save()
    convo = handed_off(factories.customer(factories.account(plan="enterprise"), name="Pat Lee"))
    html = signed_in.get(f"/inbox/c/{convo.pk}/").content.decode()
    assert "Hi Pat, thanks for getting in touch! I&#x27;m Sam" in html
    assert "on the Enterprise plan" in html and "{{" not in html


def test_an_agent_reply_through_the_form_lands_once_even_when_submitted_twice(signed_in):
    convo = handed_off(factories.customer())
    html = signed_in.get(f"/inbox/c/{convo.pk}/").content.decode()
    client_id = re.search(r'id="reply-form".*?name="client_id" value="(\w+)"', html, re.S).group(1)
    for _ in range(2):
        response = signed_in.post(f"/inbox/c/{convo.pk}/reply/", {"body": "On it!", "client_id": client_id},
                                  HTTP_HX_REQUEST="true")
        assert response.status_code == 200
    assert Message.objects.filter(conversation=convo, sender_kind="agent").count() == 1
    assert 'hx-swap-oob="true"' in response.content.decode()  # a fresh composer with a new client id


def test_an_empty_reply_shows_a_clear_inline_error(signed_in):
    convo = handed_off(factories.customer())
    response = signed_in.post(f"/inbox/c/{convo.pk}/reply/", {"body": "  ", "client_id": "x"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert 'role="alert">The message is empty.' in response.content.decode()


def test_a_stale_status_change_is_refused_and_the_fresh_state_is_shown(signed_in, manager_user):
    convo = handed_off(factories.customer())
    seen_version = convo.version
    actions.assign(convo, manager_user, by=manager_user)  # a teammate changes it meanwhile
    response = signed_in.post(f"/inbox/c/{convo.pk}/status/", {"status": "resolved", "version": seen_version},
                              HTTP_HX_REQUEST="true")
    assert response.status_code == 409
    html = response.content.decode()
    assert "Someone else changed this conversation" in html
    assert 'id="convo-assignee">manager@example.com' in html  # the change, not a silent overwrite
    convo.refresh_from_db()
    assert convo.status == "open"


def test_without_htmx_a_successful_action_redirects_back_to_the_conversation(signed_in):
    convo = handed_off(factories.customer())
    response = signed_in.post(f"/inbox/c/{convo.pk}/status/", {"status": "resolved", "version": convo.version})
    assert response.status_code == 302 and response["Location"] == f"/inbox/c/{convo.pk}/"


def test_entities_are_tagged_from_the_start_end_label_form(signed_in):
    convo = handed_off(factories.customer(), body="Charged twice on March 3")
    message = convo.messages.get(sender_kind="customer")
    response = signed_in.post(f"/inbox/c/{convo.pk}/entities/", {"message_id": message.pk, "spans": "17,24,date"},
                              HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.entities == [{"start": 17, "end": 24, "label": "DATE", "text": "March 3"}]
    bad = signed_in.post(f"/inbox/c/{convo.pk}/entities/", {"message_id": message.pk, "spans": "17-24 DATE"},
                         HTTP_HX_REQUEST="true")
    assert bad.status_code == 400 and "start,end,LABEL" in bad.content.decode()


def test_assign_to_a_teammate_outside_the_team_is_refused(signed_in, agent_user):
    team = Team.objects.create(name="Billing")
    team.members.add(agent_user)
    outsider = make_staff("out@example.com", "agent")
    convo = factories.conversation(factories.customer(), team=team)
    response = signed_in.post(f"/inbox/c/{convo.pk}/assign/", {"to": outsider.pk, "version": convo.version},
                              HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    response = signed_in.post(f"/inbox/c/{convo.pk}/assign/", {"to": "round_robin", "version": convo.version},
                              HTTP_HX_REQUEST="true")
    convo.refresh_from_db()
    assert convo.assignee == agent_user  # the only team member


def test_snooze_hides_the_conversation_until_later(signed_in):
    convo = handed_off(factories.customer())
    signed_in.post(f"/inbox/c/{convo.pk}/snooze/", {"until": "tomorrow", "version": convo.version})
    convo.refresh_from_db()
    assert convo.snoozed_until > timezone.now() and convo.snoozed_until.hour == 9
    assert rows(signed_in.get("/inbox/")) == [] and rows(signed_in.get("/inbox/?queue=snoozed")) == [convo.pk]


def test_the_verified_badge_vouches_for_the_signed_user_id_not_the_pages_email(signed_in):
    """The host app's HMAC covers the user id; an email the page passed along proves nothing."""
    verified = factories.customer(email="cfo@bigclient.example", external_id="u-42", is_verified=True)
    html = signed_in.get(f"/inbox/c/{factories.conversation(verified).pk}/").content.decode()
    assert "verified user id</span> <code>u-42</code>" in html
    anonymous = factories.customer(email="someone@example.com")
    assert "verified user id" not in signed_in.get(f"/inbox/c/{factories.conversation(anonymous).pk}/").content.decode()
