"""Macros (canned replies): variables, escaping, who may use and change them, and inserting one.

A macro is a row: shared ones are for everyone (or one team) and only managers change them;
personal ones belong to the agent who wrote them. Inserting one fills its variables from the
conversation; what the server does not know stays visible and is flagged.
"""

import html
import json
import re

import pytest

from inbox import actions, macros
from inbox.models import Macro, Team
from tests import factories
from tests.conftest import make_staff, sign_in_at

pytestmark = pytest.mark.django_db

XSS = "<script>alert(1)</script>"


def macro(name="Greeting", body="Hi {{customer.first_name}}", **kw) -> Macro:
    from django.utils import timezone

    now = timezone.now()
    return Macro.objects.create(name=name, body=body, created_at=now, updated_at=now, **kw)


def composer_macros(client, convo) -> dict[str, dict]:
    """The composer's "Insert macro" menu as the browser gets it: title → body and flagged variables."""
    page = client.get(f"/inbox/c/{convo.pk}/").content.decode()
    menu = re.search(r'<select id="macro-select".*?</select>', page, re.S).group(0)
    found = {}
    for attrs, title in re.findall(r"<option value=\"\d+\"([^>]*)>([^<]*)</option>", menu):
        body = re.search(r'data-body="([^"]*)"', attrs).group(1)
        unknown = re.search(r'data-unknown="([^"]*)"', attrs)
        found[html.unescape(title)] = {"raw": body, "body": html.unescape(body),
                                       "unknown": json.loads(html.unescape(unknown.group(1))) if unknown else []}
    return found


@pytest.fixture
def convo():
    acct = factories.account("Acme Ltd", plan="enterprise")
    return factories.conversation(factories.customer(acct, name="Pat Lee", email="pat@acme.example"))


@pytest.fixture
def manager(manager_user):
    from django.test import Client

    client = Client()
    client.force_login(manager_user)
    return client


@pytest.fixture
def agent(client, agent_user):
    agent_user.first_name = "Sam"
    agent_user.save()
    client.force_login(agent_user)
    return client


# ---------------------------------------------------------------- the defaults


def test_the_canned_replies_the_demo_always_had_are_shared_macros():
    # Seeded by migration 0004, and put back by post_migrate after any flush.
    seeded = {m.name: m for m in Macro.objects.filter(created_by=None)}
    assert list(seeded) == sorted(name for name, _ in macros.DEFAULTS)  # listed A–Z
    assert all(m.shared and m.team is None for m in seeded.values())
    assert seeded["Greeting"].body == dict(macros.DEFAULTS)["Greeting"]


# ---------------------------------------------------------------- variables


def test_variables_are_filled_from_the_customer_the_account_and_the_agent(agent, convo):
    macro("Plan", "Hi {{customer.first_name}}, {{ account.name }} is on {{account.plan}}. — {{agent.first_name}}",
          shared=True)
    assert composer_macros(agent, convo)["Plan"]["body"] == "Hi Pat, Acme Ltd is on Enterprise. — Sam"


def test_a_customer_without_a_name_is_greeted_as_there(agent):
    anonymous = factories.conversation(factories.customer(None, name="", email=""))
    macro("Hello", "Hi {{customer.first_name}}, you are on {{account.plan}}.", shared=True)
    assert composer_macros(agent, anonymous)["Hello"]["body"] == "Hi there, you are on Free."


def test_an_unknown_variable_stays_visible_and_is_flagged(agent, convo):
    macro("Shoes", "Hi {{customer.first_name}}, size {{ customer.shoe_size }} is {{order.status}}.", shared=True)
    shoes = composer_macros(agent, convo)["Shoes"]
    assert shoes["body"] == "Hi Pat, size {{ customer.shoe_size }} is {{order.status}}."
    assert shoes["unknown"] == ["{{ customer.shoe_size }}", "{{order.status}}"]


def test_known_variables_are_not_flagged():
    filled = macros.fill("{{customer.first_name}} {{agent.first_name}}", {"customer.first_name": "Pat",
                                                                          "agent.first_name": "Sam"})
    assert filled.body == "Pat Sam" and filled.unknown == []


def test_customer_supplied_values_are_escaped_in_the_page(agent):
    acct = factories.account(f"Acme {XSS}")
    evil = factories.conversation(factories.customer(acct, name=f"Eve{XSS}", email="eve@x.example"))
    macro("Hello", "Hi {{customer.name}} from {{account.name}}", shared=True)
    page = agent.get(f"/inbox/c/{evil.pk}/").content.decode()
    assert "<script>alert(1)" not in page
    hello = composer_macros(agent, evil)["Hello"]
    assert "&lt;script&gt;" in hello["raw"]  # escaped in the attribute …
    assert hello["body"] == f"Hi Eve{XSS} from Acme {XSS}"  # … and inserted as the exact text, never as HTML


def test_a_customer_value_that_looks_like_a_variable_is_not_filled_again(agent):
    sneaky = factories.conversation(factories.customer(name="{{agent.name}}", email="s@x.example"))
    macro("Hello", "Hi {{customer.first_name}}", shared=True)
    assert composer_macros(agent, sneaky)["Hello"]["body"] == "Hi {{agent.name}}"


def test_a_macro_body_is_text_not_a_django_template(agent, convo):
    macro("Odd", "{% csrf_token %} {{ request.user.password }} {{customer.first_name}}", shared=True)
    odd = composer_macros(agent, convo)["Odd"]
    assert odd["body"] == "{% csrf_token %} {{ request.user.password }} Pat"
    assert odd["unknown"] == ["{{ request.user.password }}"]


# ---------------------------------------------------------------- access


def test_anonymous_visitors_are_redirected_to_sign_in(client):
    shared = macro(shared=True)
    for url in ("/inbox/macros/", f"/inbox/macros/{shared.pk}/"):
        assert client.get(url).headers["Location"].startswith("/accounts/login/"), url
    for url in ("/inbox/macros/", f"/inbox/macros/{shared.pk}/", f"/inbox/macros/{shared.pk}/delete/"):
        assert client.post(url, {"name": "x", "body": "y"}).headers["Location"].startswith("/accounts/login/"), url
    assert Macro.objects.get(pk=shared.pk).name == "Greeting"


def test_a_user_without_a_staff_role_is_refused(client):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_user("x@example.com", "x@example.com", "pw-12345678",
                                                            is_staff=True))
    assert client.get("/inbox/macros/").status_code == 403


def test_an_agent_cannot_edit_or_delete_a_shared_macro(agent):
    shared = macro("Closing", "Bye {{customer.first_name}}", shared=True)
    assert agent.get(f"/inbox/macros/{shared.pk}/").status_code == 403
    assert agent.post(f"/inbox/macros/{shared.pk}/", {"name": "Mine now", "body": "hacked"}).status_code == 403
    assert agent.post(f"/inbox/macros/{shared.pk}/delete/").status_code == 403
    shared.refresh_from_db()
    assert (shared.name, shared.body) == ("Closing", "Bye {{customer.first_name}}")
    assert f'href="/inbox/macros/{shared.pk}/"' not in agent.get("/inbox/macros/").content.decode()


def test_the_action_refuses_the_same_for_any_caller(agent_user):
    shared = macro(shared=True)
    with pytest.raises(actions.MacroForbidden):
        actions.update_macro(shared, by=agent_user, name="x", body="y", shared=True)
    with pytest.raises(actions.MacroForbidden):
        actions.delete_macro(shared, by=agent_user)
    with pytest.raises(actions.MacroForbidden):
        actions.create_macro(by=agent_user, name="x", body="y", shared=True)


def test_an_agent_creates_a_personal_macro_that_only_they_see(agent, agent_user, convo):
    from django.test import Client

    response = agent.post("/inbox/macros/", {"name": "My sign-off", "body": "Cheers, {{agent.first_name}}"})
    assert response.status_code == 302
    mine = Macro.objects.get(name="My sign-off")
    assert not mine.shared and mine.created_by == agent_user
    assert composer_macros(agent, convo)["My sign-off"]["body"] == "Cheers, Sam"
    assert agent.get(f"/inbox/macros/{mine.pk}/").status_code == 200

    other = Client()
    other.force_login(make_staff("other@example.com", "agent"))
    assert "My sign-off" not in composer_macros(other, convo)
    assert other.get(f"/inbox/macros/{mine.pk}/").status_code == 404  # not even its existence leaks
    assert other.post(f"/inbox/macros/{mine.pk}/delete/").status_code == 404


def test_an_agent_cannot_share_a_macro_by_forging_the_form(agent):
    assert agent.post("/inbox/macros/", {"name": "Everyone's", "body": "hi", "shared": "on"}).status_code == 403
    assert not Macro.objects.filter(name="Everyone's").exists()


def test_an_agent_edits_and_deletes_their_own_macro(agent, agent_user):
    mine = actions.create_macro(by=agent_user, name="Draft", body="first")
    assert agent.post(f"/inbox/macros/{mine.pk}/", {"name": "Final", "body": "second"}).status_code == 302
    mine.refresh_from_db()
    assert (mine.name, mine.body) == ("Final", "second")
    assert agent.post(f"/inbox/macros/{mine.pk}/delete/").status_code == 302
    assert not Macro.objects.filter(pk=mine.pk).exists()


def test_a_manager_edits_a_shared_macro_and_agents_insert_the_new_text(manager, agent, convo):
    shared = macro("Greeting", "Hello {{customer.first_name}}", shared=True)
    response = manager.post(f"/inbox/macros/{shared.pk}/", {"name": "Greeting", "body": "Welcome back, "
                                                           "{{customer.first_name}}!", "shared": "on"})
    assert response.status_code == 302
    assert composer_macros(agent, convo)["Greeting"]["body"] == "Welcome back, Pat!"


def test_a_managers_team_macro_is_offered_to_that_team_only(manager, agent, agent_user, convo):
    vip = Team.objects.create(name="VIP")
    manager.post("/inbox/macros/", {"name": "VIP hello", "body": "Hi VIP", "shared": "on", "team": vip.pk})
    assert Macro.objects.get(name="VIP hello").team == vip
    assert "VIP hello" in composer_macros(manager, convo)  # managers see every shared macro
    assert "VIP hello" not in composer_macros(agent, convo)
    vip.members.add(agent_user)
    assert "VIP hello" in composer_macros(agent, convo)


def test_bad_input_is_refused_with_a_clear_message(agent):
    response = agent.post("/inbox/macros/", {"name": "Empty", "body": "   "})
    assert response.status_code == 400
    assert not Macro.objects.filter(name="Empty").exists()
    assert '<div class="error">This field is required.</div>' in response.content.decode()


def test_saving_a_macro_with_an_unknown_variable_warns_but_keeps_it(agent):
    response = agent.post("/inbox/macros/", {"name": "Typo", "body": "Hi {{custmer.first_name}}"}, follow=True)
    page = response.content.decode()
    assert "Not a known variable, so it stays as typed: {{custmer.first_name}}" in page
    assert Macro.objects.filter(name="Typo").exists()


# ---------------------------------------------------------------- in the browser


@pytest.mark.django_db(transaction=True)
def test_inserting_a_macro_fills_the_reply_box_and_flags_what_it_could_not_fill(live_server, page, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = make_staff("alex@example.com", "agent", password="s3cret-pass-word")
    user.first_name = "Alex"
    user.save()
    evil = factories.conversation(factories.customer(factories.account("Acme Ltd"), name="Pat<img/src=x/onerror=alert(1)> Lee"))
    actions.create_macro(by=user, name="Shoes", body="Hi {{customer.first_name}}, size {{customer.shoe_size}}? "
                                                      "— {{agent.first_name}}")
    url = f"{live_server.url}/inbox/c/{evil.pk}/"
    sign_in_at(page, url, "alex@example.com", "s3cret-pass-word", lands_on=url)

    page.select_option("#macro-select", label="Shoes")
    box = page.locator("#reply-body")
    assert box.input_value() == "Hi Pat<img/src=x/onerror=alert(1)>, size {{customer.shoe_size}}? — Alex"
    assert page.locator("img[src=x]").count() == 0  # the customer's name went in as text
    warning = page.locator("#macro-warning")
    assert warning.is_visible() and "{{customer.shoe_size}}" in warning.inner_text()

    box.fill("Hi Pat, which size do you wear? — Alex")
    assert warning.is_hidden()
