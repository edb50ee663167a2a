"""`python manage.py seed_demo`: Relaymark, a fictional B2B SaaS, with 90 days of support history.

Deterministic under --seed. Historical rows are bulk-written like a data import (back-dated,
no broadcasts); the knowledge base and intents go through the apps' actions like any edit.
The AI's resolution rate rises over the 90 days, as it would with the learning loop on.
"""

from __future__ import annotations

import random
import re
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.utils import timezone
from tqdm import tqdm

from helpdesk.accounts import ADMIN, AGENT, MANAGER, ensure_roles
from helpdesk.demo import content
from inbox.models import (
    Account,
    Conversation,
    Customer,
    Draft,
    DraftStatus,
    EscalationReason,
    HandledBy,
    Label,
    LabelKind,
    Message,
    Outcome,
    OutcomeKind,
    SenderKind,
    Site,
    Status,
    Team,
)

DEMO_PASSWORD = "relaymark-demo"  # a published demo login, not a secret
DEMO_LOGINS = [
    (ADMIN, "admin@relaymark.example", DEMO_PASSWORD),
    (MANAGER, "manager@relaymark.example", DEMO_PASSWORD),
    (AGENT, "alex@relaymark.example", DEMO_PASSWORD),
    (AGENT, "sam@relaymark.example", DEMO_PASSWORD),
]
DEMO_SITE_KEY = "relaymark-demo-site"
PLAN_WEIGHTS = {"free": 4, "starter": 7, "growth": 6, "enterprise": 3}
SEED_EXAMPLES_PER_INTENT = 8


def _plain(markdown: str) -> str:
    return re.sub(r"\*\*|__|`|^#+\s*", "", markdown, flags=re.M)


class Command(BaseCommand):
    help = "Load the Relaymark demo: staff logins, KB articles, intents, accounts, customers, 2,000 conversations."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--conversations", type=int, default=2000)
        parser.add_argument("--days", type=int, default=90)
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when demo data is already there.")

    def handle(self, *args, seed: int, conversations: int, days: int, if_empty: bool, **opts):
        if if_empty and Account.objects.exists():
            self.stdout.write("Demo data already loaded; reusing it.")
            return
        rng = random.Random(seed)
        now = timezone.now().replace(microsecond=0)
        self.stdout.write("Loading demo data …")
        staff = self._staff()
        company = content.company()
        self._site()
        articles = self._articles()
        intents = self._intents(rng)
        accounts = self._accounts(rng, company, now)
        customers = self._customers(rng, company, accounts, now)
        self._conversations(rng, company, customers, intents, articles, staff, now, conversations, days)
        self._train()
        self.stdout.write(self.style.SUCCESS(
            f"Demo data ready: {len(articles)} articles, {len(intents)} intents, {len(accounts)} accounts, "
            f"{len(customers)} customers, {Conversation.objects.count()} conversations."
        ))

    # ------------------------------------------------------------------ staff and site
    def _staff(self) -> dict[str, list]:
        groups = ensure_roles()
        user_model = get_user_model()
        staff: dict[str, list] = {ADMIN: [], MANAGER: [], AGENT: []}
        for role, email, password in DEMO_LOGINS:
            user, created = user_model.objects.get_or_create(
                username=email, defaults={"email": email, "is_staff": True, "is_superuser": role == ADMIN,
                                          "first_name": email.split("@")[0].title()}
            )
            if created:
                user.set_password(password)
                user.save()
            user.groups.add(groups[role])
            staff[role].append(user)
        billing, _ = Team.objects.get_or_create(name="Billing")
        technical, _ = Team.objects.get_or_create(name="Technical")
        billing.members.add(staff[AGENT][0], staff[MANAGER][0])
        technical.members.add(*staff[AGENT])
        return staff

    def _site(self) -> Site:
        site, _ = Site.objects.get_or_create(
            key=DEMO_SITE_KEY, defaults={"name": "Relaymark app (demo)", "business_hours": "Mon–Fri 08:00–18:00 CET"}
        )
        return site

    # ------------------------------------------------------------------ knowledge and intents
    def _articles(self) -> dict:
        from knowledge.actions import reindex_articles, save_article
        from knowledge.models import Article, ArticleStatus

        by_stem = {}
        for item in tqdm(content.articles(), desc="Articles", unit="article"):
            existing = Article.objects.filter(import_key=f"demo:{item.stem}").first()
            by_stem[item.stem] = save_article(
                article=existing, title=item.title, body=item.body, area=item.area, tags=item.tags,
                status=ArticleStatus.PUBLISHED, source_url=item.url, import_key=f"demo:{item.stem}", reindex="none",
            )
        self.stdout.write("Embedding the knowledge base …")
        reindex_articles(list(by_stem.values()))
        return by_stem

    def _intents(self, rng: random.Random) -> list[dict]:
        from agents.actions import add_intent_example, ensure_intent

        items = content.intents()
        for item in items:
            intent = ensure_intent(item["name"], description=item["description"], human_only=item["human_only"])
            for text in item["questions"][:SEED_EXAMPLES_PER_INTENT]:
                add_intent_example(intent, text, source="seed", retrain=False)
        return items

    def _train(self) -> None:
        from agents.learning import refresh_intent_model

        self.stdout.write("Training the intent model on the seed examples …")
        refresh_intent_model(trigger="seed")

    # ------------------------------------------------------------------ accounts and customers
    def _accounts(self, rng: random.Random, company: dict, now) -> list[Account]:
        plans = {p["name"].lower(): p for p in company["plans"]}
        names = company["account_names"][:20]
        rows = []
        for i, name in enumerate(names):
            plan = rng.choices(list(PLAN_WEIGHTS), weights=list(PLAN_WEIGHTS.values()))[0]
            low, high = plans.get(plan, {"mrr_range": [0, 0]})["mrr_range"]
            mrr = Decimal(rng.randint(low, high)) if high else Decimal(0)
            price = plans.get(plan, {}).get("price_per_seat") or 0
            signed_up = now - timedelta(days=rng.randint(100, 900))
            rows.append(Account(
                name=name, external_id=f"acct_{1000 + i}", crm_id=f"SF-{rng.randint(10000, 99999)}",
                billing_id=f"cus_{rng.randint(100000, 999999)}", plan=plan, mrr=mrr,
                seats=max(1, int(mrr / price)) if price else rng.randint(1, 5),
                signed_up_at=signed_up, renews_at=now + timedelta(days=rng.randint(5, 360)),
                attributes={"industry": rng.choice(["Agency", "Software", "Consulting", "Architecture", "Marketing",
                                                    "Non-profit", "Legal", "Engineering"]),
                            "csm": rng.choice(["Dana Whitfield", "Omar Haddad", "none"]),
                            "health": rng.choice(["green", "green", "yellow", "red"])},
            ))
        return Account.objects.bulk_create(rows)

    def _customers(self, rng: random.Random, company: dict, accounts: list[Account], now) -> list[Customer]:
        site = Site.objects.get(key=DEMO_SITE_KEY)
        rows, seen = [], set()
        for i in range(200):
            account = accounts[i % len(accounts)] if i < len(accounts) else rng.choice(accounts)
            first, last = rng.choice(company["first_names"]), rng.choice(company["last_names"])
            domain = "".join(ch for ch in account.name.lower() if ch.isalnum())[:20] + ".example"
            email = f"{first}.{last}@{domain}".lower()
            while email in seen:
                email = f"{first}.{last}{rng.randint(2, 99)}@{domain}".lower()
            seen.add(email)
            rows.append(Customer(
                account=account, email=email, name=f"{first} {last}", external_id=f"user_{5000 + i}", site=site,
                is_verified=True, created_at=account.signed_up_at + timedelta(days=rng.randint(0, 60)),
                attributes={"role": rng.choice(["Owner", "Admin", "Member", "Member", "Billing contact"]),
                            "last_seen": (now - timedelta(hours=rng.randint(1, 400))).date().isoformat(),
                            "app_version": rng.choice(["4.12.1", "4.12.2", "4.13.0"])},
            ))
        return Customer.objects.bulk_create(rows)

    # ------------------------------------------------------------------ conversations
    def _conversations(self, rng, company, customers, intents, articles, staff, now, total, days):
        from knowledge.models import Chunk

        first_chunk = {c.article_id: c for c in Chunk.objects.filter(ordinal__in=[0, 1]).order_by("ordinal")}
        agents = staff[AGENT] + staff[MANAGER]
        weights = [0.6 if i["human_only"] else (0.8 if i["article"] is None else 1.0) for i in intents]
        reasons = [r for r in EscalationReason.values if r not in ("customer_request", "low_confidence")]
        start = now - timedelta(days=days)
        plan_convos = []
        last_by_customer: dict[int, tuple] = {}
        for n in range(total):
            when = start + timedelta(seconds=int(days * 86400 * (n + rng.random()) / total))
            if when > now - timedelta(minutes=5):
                when = now - timedelta(minutes=5 + n % 30)
            plan_convos.append((when, rng.choice(customers), rng.choices(intents, weights=weights)[0]))
        plan_convos.sort(key=lambda row: row[0])

        convos, msgs, outcomes, labels, drafts, followups = [], [], [], [], [], []
        for when, customer, intent in tqdm(plan_convos, desc="Conversations", unit="conv"):
            progress = (when - start).total_seconds() / (days * 86400)  # 0 → 1 over the period
            article = articles.get(intent["article"]) if intent["article"] else None
            question = rng.choice(intent["questions"])
            previous = last_by_customer.get(customer.pk)
            is_follow_up = bool(previous and previous[1] == intent["name"] and when - previous[2] < timedelta(days=5))
            recent = now - when < timedelta(hours=36)
            p_ai = (0.50 + 0.28 * progress) if article and not intent["human_only"] else 0.0
            roll = rng.random()
            if recent and roll < 0.35:
                fate = "waiting"
            elif roll < p_ai:
                fate = "ai_resolved"
            elif roll < p_ai + 0.06 and article:
                fate = "abandoned"
            else:
                fate = "escalated"
            convo = Conversation(
                customer=customer, account_id=customer.account_id, channel=rng.choices(["chat", "email"], [8, 2])[0],
                subject=question[:120], intent=intent["name"], intent_confidence=round(rng.uniform(0.55, 0.98), 2),
                created_at=when, last_message_at=when,
                page_context=self._page(rng, company, intent),
            )
            convo_msgs = [Message(sender_kind=SenderKind.CUSTOMER, body=question, created_at=when)]
            t = when + timedelta(seconds=rng.randint(1, 3))
            ai_reply = None
            if article and fate != "escalated" or (article and rng.random() < 0.5):
                chunk = first_chunk.get(article.pk)
                passage = _plain((chunk.text if chunk else article.body)[:420].rsplit(" ", 1)[0])
                ai_reply = Message(
                    sender_kind=SenderKind.AI, created_at=t,
                    body=f"{passage} …\n\nMore in “{article.title}”.",
                    trace={"decision": "answer", "intent": intent["name"], "confidence": convo.intent_confidence,
                           "chunks": [{"chunk_id": chunk.pk if chunk else None, "article_id": article.pk,
                                       "title": article.title, "score": round(rng.uniform(0.02, 0.033), 4)}],
                           "model_versions": {"intent": "seed"}, "why": "confident intent with a matching article"},
                )
                convo_msgs.append(ai_reply)
                convo.first_response_at = t
            if fate == "ai_resolved":
                convo.status, convo.handled_by = Status.RESOLVED, HandledBy.AI
                convo.resolved_at = t + timedelta(minutes=rng.randint(1, 20))
                if rng.random() < 0.4:
                    convo.csat = rng.choices([5, 4, 3, 2], [6, 3, 1, 0.5])[0]
            elif fate == "abandoned":
                convo.status, convo.abandoned = Status.CLOSED, True
            elif fate in ("escalated", "waiting"):
                reason = ("policy_exception" if intent["human_only"] else
                          "missing_knowledge" if not article else rng.choice(reasons))
                if intent["name"] == "talk_to_human":
                    reason = "customer_request"
                convo.needs_human, convo.escalation_reason = True, reason
                convo.escalation_note = company["escalation_reasons"].get(reason, "")[:200]
                convo_msgs.append(Message(sender_kind=SenderKind.SYSTEM, created_at=t + timedelta(seconds=1),
                                          body="Handed to the support team. A teammate will reply here."))
                if fate == "escalated":
                    agent = rng.choice(agents)
                    reply_at = t + timedelta(minutes=rng.randint(3, 240))
                    body = rng.choice(intent["agent_replies"])
                    convo.assignee, convo.handled_by = agent, HandledBy.HUMAN
                    convo.status, convo.resolved_at = Status.RESOLVED, reply_at + timedelta(minutes=rng.randint(1, 60))
                    convo.first_response_at = convo.first_response_at or reply_at
                    convo.needs_human = False
                    if rng.random() < 0.5:
                        convo.csat = rng.choices([5, 4, 3, 2, 1], [4, 3, 2, 1, 1])[0]
                    convo_msgs.append(Message(sender_kind=SenderKind.AGENT, author=agent, created_at=reply_at, body=body))
                    drafts.append((convo, body, agent, reply_at, rng.random()))
                else:
                    convo.status = Status.OPEN
            convo.last_message_at = max(m.created_at for m in convo_msgs)
            if convo.first_response_at:
                convo.first_response_seconds = int((convo.first_response_at - when).total_seconds())
            if convo.resolved_at:
                convo.resolution_seconds = int((convo.resolved_at - when).total_seconds())
            convos.append(convo)
            msgs.append(convo_msgs)
            followups.append(previous[0] if is_follow_up else None)
            last_by_customer[customer.pk] = (convo, intent["name"], when, ai_reply)

        with transaction.atomic():
            Conversation.objects.bulk_create(convos, batch_size=1000)
            flat = []
            for convo, convo_msgs in zip(convos, msgs, strict=True):
                for m in convo_msgs:
                    m.conversation = convo
                    flat.append(m)
            Message.objects.bulk_create(flat, batch_size=2000)
            to_update = []
            for convo, earlier in zip(convos, followups, strict=True):
                if earlier is not None:
                    convo.follow_up_of = earlier
                    to_update.append(convo)
            Conversation.objects.bulk_update(to_update, ["follow_up_of"], batch_size=1000)
            follow_up_targets = {c.follow_up_of_id for c in to_update}
            for convo, convo_msgs in zip(convos, msgs, strict=True):
                ai = next((m for m in convo_msgs if m.sender_kind == SenderKind.AI), None)
                outcomes.extend(self._outcomes(convo, ai, follow_up_targets))
                if convo.escalation_reason and convo.assignee_id:
                    labels.append(Label(kind=LabelKind.ESCALATION, conversation=convo, author=convo.assignee,
                                        value={"reason": convo.escalation_reason, "note": convo.escalation_note,
                                               "inferred": convo.escalation_reason},
                                        created_at=convo.resolved_at or convo.last_message_at))
                    labels.append(Label(kind=LabelKind.INTENT, conversation=convo, message=convo_msgs[0],
                                        author=convo.assignee, value={"intent": convo.intent, "previous": convo.intent},
                                        created_at=convo.resolved_at or convo.last_message_at))
            Outcome.objects.bulk_create(outcomes, batch_size=2000)
            Label.objects.bulk_create(labels, batch_size=2000)
            Draft.objects.bulk_create([
                Draft(conversation=convo, body=body, created_at=at - timedelta(minutes=1),
                      status=DraftStatus.SENT if roll < 0.55 else DraftStatus.EDITED,
                      sent_body=body if roll < 0.55 else body + " Let me know if anything else comes up.",
                      decided_by=agent, decided_at=at)
                for convo, body, agent, at, roll in drafts
            ], batch_size=1000)
            with connection.cursor() as cursor:
                cursor.execute("""
                    UPDATE inbox_conversation c SET search = to_tsvector('english', c.subject || ' ' || coalesce(
                        (SELECT string_agg(m.body, ' ') FROM inbox_message m
                         WHERE m.conversation_id = c.id AND m.sender_kind IN ('customer', 'agent')), ''))
                """)

    @staticmethod
    def _outcomes(convo: Conversation, ai: Message | None, follow_up_targets: set[int]) -> list[Outcome]:
        at = convo.resolved_at or convo.last_message_at
        rows = []
        if ai is not None:
            if convo.status == Status.RESOLVED and convo.handled_by == HandledBy.AI and convo.pk not in follow_up_targets:
                rows.append(Outcome(conversation=convo, message=ai, kind=OutcomeKind.RESOLVED, reward=1.0, created_at=at))
            if convo.pk in follow_up_targets:
                rows.append(Outcome(conversation=convo, message=ai, kind=OutcomeKind.FOLLOW_UP, reward=-1.0, created_at=at))
            if convo.abandoned:
                rows.append(Outcome(conversation=convo, message=ai, kind=OutcomeKind.ABANDONED, reward=-0.5, created_at=at))
            if convo.handled_by == HandledBy.HUMAN:
                rows.append(Outcome(conversation=convo, message=ai, kind=OutcomeKind.ESCALATED, reward=-1.0, created_at=at))
        if convo.csat:
            rows.append(Outcome(conversation=convo, message=ai, kind=OutcomeKind.CSAT, reward=(convo.csat - 3) / 2,
                                value={"score": convo.csat}, created_at=at))
        return rows

    @staticmethod
    def _page(rng: random.Random, company: dict, intent: dict) -> dict:
        pages = company.get("pages", [])
        matching = [p for p in pages if p.get("area") == intent.get("area")] or pages
        if not matching:
            return {}
        page = rng.choice(matching)
        return {"url": f"https://app.relaymark.example{page['path']}", "title": page["title"], "area": page["area"]}
