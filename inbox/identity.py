"""Who is on the other end of a widget: a signed anonymous visitor, or a host-app user proven by HMAC.

Intercom-style identity verification: the host app computes HMAC-SHA256(site secret, user id)
on its server and passes it with the id. Without a valid hash the visitor is anonymous,
whatever id or email the page claims, so nobody can read another customer's conversations.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from django.core import signing
from django.db import transaction
from django.utils import timezone

from inbox.models import Customer, Site

log = logging.getLogger("inbox.identity")
VISITOR_SALT = "inbox.widget.visitor"
VISITOR_MAX_AGE = 90 * 24 * 3600


def user_hash(site: Site, user_id: str) -> str:
    return hmac.new(site.secret.encode(), str(user_id).encode(), hashlib.sha256).hexdigest()


def visitor_token(customer: Customer) -> str:
    return signing.dumps({"c": customer.pk, "s": customer.site_id}, salt=VISITOR_SALT, compress=True)


def _from_token(site: Site, token: str | None) -> Customer | None:
    if not token or not isinstance(token, str):
        return None
    try:
        data = signing.loads(token, salt=VISITOR_SALT, max_age=VISITOR_MAX_AGE)
    except signing.BadSignature:
        log.warning("widget: bad visitor token for site %s", site.key)
        return None
    if data.get("s") != site.pk:
        return None
    return Customer.objects.filter(pk=data.get("c"), site=site).select_related("account").first()


def identify(site: Site, *, token: str | None, user: dict | None) -> tuple[Customer, bool]:
    """Returns (customer, verified). Forged identities are logged and fall back to anonymous."""
    if isinstance(user, dict) and user.get("id"):
        user_id = str(user["id"])[:200]
        claimed = str(user.get("hash") or "")
        if claimed and hmac.compare_digest(claimed.encode(), user_hash(site, user_id).encode()):
            with transaction.atomic():
                customer, created = Customer.objects.select_related("account").get_or_create(
                    site=site, external_id=user_id,
                    defaults={"email": str(user.get("email") or "")[:254], "name": str(user.get("name") or "")[:200],
                              "is_verified": True, "created_at": timezone.now()},
                )
                if not customer.is_verified:
                    customer.is_verified = True
                    customer.save(update_fields=["is_verified"])
            return customer, True
        log.warning("widget: unverified identity %r on site %s treated as anonymous", user_id, site.key)
    customer = _from_token(site, token)
    if customer is None or customer.is_verified:
        # A verified customer's token alone never opens their history: they must prove it again.
        customer = Customer.objects.create(site=site, created_at=timezone.now())
    return customer, False
