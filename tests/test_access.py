"""Every staff page needs a signed-in staff member; customers never get staff sessions."""

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from tests import factories

pytestmark = pytest.mark.django_db

STAFF_PAGES = ["/inbox/", "/inbox/?queue=open"]


@pytest.mark.parametrize("url", STAFF_PAGES + ["/inbox/c/1/"])
def test_anonymous_visitors_are_sent_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_signed_in_user_without_a_staff_role_is_refused(client):
    user = get_user_model().objects.create_user("cust@example.com", "cust@example.com", "pw-123456789")
    client.force_login(user)
    assert client.get("/inbox/").status_code == 403


def test_an_agent_sees_the_inbox_and_a_conversation(client, agent_user):
    convo = factories.conversation(factories.customer(), subject="Invoice <script>alert(1)</script>",
                                   needs_human=True)
    factories.message(convo, "<img src=x onerror=alert(1)>")
    client.force_login(agent_user)
    queue = client.get("/inbox/")
    assert queue.status_code == 200
    assert b"Invoice &lt;script&gt;" in queue.content and b"<script>alert(1)" not in queue.content
    page = client.get(f"/inbox/c/{convo.pk}/")
    assert page.status_code == 200
    assert b"&lt;img src=x onerror=alert(1)&gt;" in page.content


def test_an_agent_cannot_open_another_teams_conversation(client, agent_user):
    from inbox.models import Team

    team = Team.objects.create(name="VIP")
    convo = factories.conversation(factories.customer(), team=team)
    client.force_login(agent_user)
    assert client.get(f"/inbox/c/{convo.pk}/").status_code == 404


def test_a_manager_sees_every_team(client, manager_user):
    from inbox.models import Team

    convo = factories.conversation(factories.customer(), team=Team.objects.create(name="VIP"))
    client.force_login(manager_user)
    assert client.get(f"/inbox/c/{convo.pk}/").status_code == 200


def test_nobody_can_sign_themselves_up(client):
    response = client.post("/accounts/signup/", {"email": "x@example.com", "password1": "a-Long-pass-123",
                                                 "password2": "a-Long-pass-123"})
    assert get_user_model().objects.filter(email="x@example.com").count() == 0
    assert response.status_code in (200, 403)


def test_password_reset_mail_goes_through_the_email_backend(client, agent_user):
    client.post("/accounts/password/reset/", {"email": agent_user.email})
    assert len(mail.outbox) == 1
    assert agent_user.email in mail.outbox[0].to


def test_sign_in_with_email_and_password(client, agent_user):
    response = client.post("/accounts/login/", {"login": agent_user.email, "password": "correct horse battery"})
    assert response.status_code == 302
    assert client.get("/inbox/").status_code == 200


def test_the_django_admin_is_for_admins_only(client, agent_user, manager_user):
    """The admin edits rows past the inbox's actions and team rules: no labels, no audit, every team's threads."""
    for user in (agent_user, manager_user):
        client.force_login(user)
        assert client.get("/admin/inbox/conversation/").status_code == 302  # sent to the admin's own sign-in
    admin = get_user_model().objects.create_superuser("root@example.com", "root@example.com", "pw-123456789")
    client.force_login(admin)
    assert client.get("/admin/inbox/conversation/").status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize("origin, opens", [("http://testserver", True), ("https://evil.example", False)])
async def test_the_staff_socket_opens_only_from_the_helpdesks_own_pages(client, agent_user, origin, opens):
    """A page elsewhere must not read the inbox live through a signed-in agent's cookie."""
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator

    from helpdesk.asgi import application

    await sync_to_async(client.force_login)(agent_user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    comm = WebsocketCommunicator(application, "/ws/inbox/", headers=[(b"origin", origin.encode()), (b"cookie", cookie)])
    connected, _ = await comm.connect()
    assert connected is opens
    await comm.disconnect()


def test_a_deployment_with_the_demo_off_serves_no_demo_pages(client, settings):
    """The demo host page signs in as a demo customer; production (DEBUG off) must not serve it."""
    import importlib

    from django.urls import clear_url_caches

    import helpdesk.urls

    assert client.get("/demo/").status_code == 503  # served (asking for the demo data), not missing
    settings.DEMO_ENABLED = False
    try:
        importlib.reload(helpdesk.urls)
        clear_url_caches()
        assert client.get("/demo/").status_code == 404
    finally:
        settings.DEMO_ENABLED = True
        importlib.reload(helpdesk.urls)
        clear_url_caches()
