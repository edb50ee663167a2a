"""The widget script and the demo host pages (a fake Relaymark app with the widget embedded)."""

from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from inbox.identity import user_hash
from inbox.models import Customer, Site

WIDGET_JS = Path(settings.BASE_DIR) / "static" / "widget" / "widget.js"
DEMO_SITE_KEY = "relaymark-demo-site"
DEMO_PAGES = {
    "": {"title": "Dashboard", "area": "onboarding", "screen": "dashboard",
         "blurb": "Your boards, timesheets and reports at a glance."},
    "billing": {"title": "Billing settings", "area": "billing", "screen": "billing",
                "blurb": "Your plan, seats and invoices."},
    "integrations": {"title": "Integrations", "area": "integrations", "screen": "integrations",
                     "blurb": "Connect Slack, GitHub, Google Calendar, Salesforce, QuickBooks and Zapier."},
    "timesheets": {"title": "Timesheets", "area": "known-bugs", "screen": "timesheets-export",
                   "blurb": "Export your team's hours to CSV or PDF."},
    "admin": {"title": "Workspace admin", "area": "account-admin", "screen": "admin",
              "blurb": "SSO, two-factor authentication, roles and the audit log."},
}


@require_GET
@cache_control(max_age=300, public=True)
def widget_js(request):
    return HttpResponse(WIDGET_JS.read_bytes(), content_type="application/javascript; charset=utf-8")


@require_GET
def demo_host(request, page: str = ""):
    if page not in DEMO_PAGES:
        raise Http404("No such demo page")
    site = Site.objects.filter(key=DEMO_SITE_KEY).first()
    if site is None:
        return render(request, "demo/not_seeded.html", status=503)
    user, page_info = None, DEMO_PAGES[page]
    if request.GET.get("as") != "anonymous":
        customer = Customer.objects.filter(site=site, is_verified=True).exclude(external_id="").order_by("pk").first()
        if customer:
            # What the host app's server does: sign its own user id with the site secret.
            user = {"id": customer.external_id, "email": customer.email, "name": customer.name,
                    "hash": user_hash(site, customer.external_id)}
            if page == "billing" and customer.account:  # the page shows what the agent knows: the real account
                page_info = {**page_info, "blurb": f"Plan: {customer.account.get_plan_display()} · "
                                                   f"{customer.account.seats} seats · next invoice on the 1st."}
    return render(request, "demo/host.html", {
        "site": site, "user": user, "page": page_info, "page_key": page, "pages": DEMO_PAGES,
    })
