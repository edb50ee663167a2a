"""Small builders for test data: plain functions, real rows."""

from django.utils import timezone

from inbox.models import Account, Conversation, Customer, Message


def account(name="Acme Ltd", plan="growth", mrr=490, **kw) -> Account:
    return Account.objects.create(name=name, plan=plan, mrr=mrr, signed_up_at=timezone.now(), **kw)


def customer(acct: Account | None = None, email="pat@acme.example", name="Pat Lee", **kw) -> Customer:
    return Customer.objects.create(account=acct, email=email, name=name, created_at=timezone.now(), **kw)


def conversation(cust: Customer, subject="Card declined", **kw) -> Conversation:
    now = timezone.now()
    kw.setdefault("created_at", now)
    kw.setdefault("last_message_at", now)
    return Conversation.objects.create(customer=cust, account=cust.account, subject=subject, **kw)


def message(convo: Conversation, body: str, sender_kind="customer", **kw) -> Message:
    kw.setdefault("created_at", timezone.now())
    return Message.objects.create(conversation=convo, body=body, sender_kind=sender_kind, **kw)
