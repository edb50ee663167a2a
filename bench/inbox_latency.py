"""Staff inbox latency over 100,000 conversations, and the live update from widget to open inbox.

Runs in its own throw-away database: the demo KB, intents and model (seed code path), the demo
staff and accounts, then 20,000 customers, 100,000 conversations and 2–4 messages each written
with SQL generate_series (statuses, hand-offs, assignees, plans and intents spread like a year of
support; Conversation.search filled the way seed_demo fills it).

1. Pages, in this process with Django's test Client signed in as the demo manager (force_login):
   every queue (needs a human, mine, unassigned, all open, snoozed, resolved), all open filtered
   by account and by intent, the second page of all open (keyset cursor) and ?queue=open&q=invoice
   (≥ 30 requests each after warm-up), and /inbox/c/<id>/ for 30 random conversations.
   Target: p95 ≤ 150 ms each. One request of each is profiled (queries, SQL time, slowest), and
   the SQL of the needs-a-human page is EXPLAIN ANALYZEd as the ORM sends it.
2. Live update: daphne + a Celery worker (prefork -c 2) on the same database. A staff WebSocket on
   ws/inbox/ (the manager's session cookie) stays open; a widget visitor sends a question; timed
   from the widget frame sent to the staff socket receiving "conversation_changed" for that
   conversation (sender customer). Target: p95 ≤ 200 ms over ≥ 30 samples. Also timed: the
   list partial the inbox page re-fetches on that event (inbox.js waits 150 ms first, debounced).
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import chat_latency as lab  # noqa: E402  (sets up Django, a private Valkey and the helpers)
from _common import write  # noqa: E402

N_CONVERSATIONS = int(os.environ.get("BENCH_CONVERSATIONS", 100_000))
N_CUSTOMERS = 20_000
REQUESTS = int(os.environ.get("BENCH_INBOX_REQUESTS", 40))
LIVE_SAMPLES = int(os.environ.get("BENCH_LIVE_SAMPLES", 40))
QUEUE_URLS = {
    "needs_human": "/inbox/?queue=needs_human",
    "mine": "/inbox/?queue=mine",
    "unassigned": "/inbox/?queue=unassigned",
    "open": "/inbox/?queue=open",
    "snoozed": "/inbox/?queue=snoozed",
    "resolved": "/inbox/?queue=resolved",
    "open_account": "/inbox/?queue=open&account={account}",
    "open_intent": "/inbox/?queue=open&intent={intent}",
    "open_page_2": "/inbox/?queue=open&before={cursor}",
    "open_search_invoice": "/inbox/?queue=open&q=invoice",
}


# ---------------------------------------------------------------- data


def generate() -> dict:
    from django.db import connection, transaction
    from django.utils import timezone

    from helpdesk.accounts import AGENT, MANAGER
    from helpdesk.demo import content
    from helpdesk.management.commands.seed_demo import Command

    t0 = time.perf_counter()
    command = Command()
    staff = command._staff()
    rng = random.Random(3)
    accounts = command._accounts(rng, content.company(), timezone.now())
    intents = content.intents()
    questions = [q for i in intents for q in i["questions"]]
    q_intents = [i["name"] for i in intents for _ in i["questions"]]
    replies = [r for i in intents for r in i["agent_replies"]]
    staff_ids = [u.pk for u in staff[AGENT] + staff[MANAGER]]
    site_id = lab_site_id()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("""
            INSERT INTO inbox_customer (account_id, email, name, external_id, site_id, is_verified, attributes,
                                        created_at)
            SELECT CASE WHEN g %% 10 < 7 THEN (%(accounts)s::bigint[])[1 + (g / 10) %% cardinality(%(accounts)s::bigint[])]
                   END,
                   CASE WHEN g %% 10 < 7 THEN 'user' || g || '@example.com' ELSE '' END,
                   CASE WHEN g %% 10 < 7 THEN 'Customer ' || g ELSE '' END,
                   CASE WHEN g %% 10 < 7 THEN 'bench_' || g ELSE '' END,
                   %(site)s, g %% 10 < 7, '{}'::jsonb, now() - interval '400 days'
            FROM generate_series(1, %(n)s) g
        """, {"accounts": [a.pk for a in accounts], "site": site_id, "n": N_CUSTOMERS})
        cur.execute("SELECT min(id), max(id) FROM inbox_customer")
        cmin, cmax = cur.fetchone()
        cur.execute("SELECT setseed(0.42)")
        # Ages skew recent; anything in the last 3 days may still be open, plus a trickle of old
        # ones left open or pending. Open hand-offs need a human; some are assigned, some not.
        cur.execute("""
            INSERT INTO inbox_conversation (customer_id, account_id, channel, status, subject, assignee_id, team_id,
                intent, intent_confidence, handled_by, needs_human, escalation_reason, escalation_note,
                page_context, session_trail, created_at, last_message_at, first_response_at,
                first_response_seconds, resolved_at, resolution_seconds, snoozed_until, csat, abandoned,
                follow_up_of_id, is_spam, version)
            SELECT c.id, c.account_id, CASE WHEN r.ch < 0.8 THEN 'chat' ELSE 'email' END, s.status,
                   left((%(questions)s::text[])[r.qi], 120),
                   CASE WHEN s.human AND r.a < 0.7 THEN (%(staff)s::bigint[])[1 + floor(r.a * 10)::int %% %(nstaff)s]
                   END,
                   NULL, (%(qintents)s::text[])[r.qi], round((0.4 + 0.59 * r.conf)::numeric, 2)::float,
                   CASE WHEN s.human THEN 'human' ELSE 'ai' END,
                   s.human AND s.status IN ('open', 'pending'),
                   CASE WHEN s.human THEN (ARRAY['billing_error','bug','missing_knowledge','policy_exception',
                        'customer_request','low_confidence'])[1 + floor(r.a * 6)::int] ELSE '' END,
                   '', '{}'::jsonb, '[]'::jsonb, t.created, t.created + interval '3 minutes',
                   t.created + interval '3 seconds', 3,
                   CASE WHEN s.status IN ('resolved', 'closed') THEN t.created + interval '20 minutes' END,
                   CASE WHEN s.status IN ('resolved', 'closed') THEN 1200 END,
                   NULL, CASE WHEN r.conf < 0.3 THEN 1 + floor(r.conf * 16)::int END, false, NULL, false, 1
            FROM generate_series(1, %(n)s) g
            CROSS JOIN LATERAL (SELECT g AS gg, 1 + floor(random() * cardinality(%(questions)s::text[]))::int AS qi,
                                random() AS age, random() AS st, random() AS a, random() AS conf,
                                random() AS ch) r
            JOIN inbox_customer c ON c.id = %(cmin)s + (g * 7919) %% (%(cmax)s - %(cmin)s + 1)
            CROSS JOIN LATERAL (SELECT now() - (r.age ^ 2) * interval '365 days' AS created) t
            CROSS JOIN LATERAL (SELECT
                CASE WHEN t.created > now() - interval '3 days' AND r.st < 0.55 THEN 'open'
                     WHEN r.st < 0.02 THEN 'open' WHEN r.st < 0.03 THEN 'pending'
                     WHEN r.st < 0.9 THEN 'resolved' ELSE 'closed' END AS status,
                (r.st * 7)::numeric %% 1 < 0.35 AS human) s
        """, {"questions": questions, "qintents": q_intents, "staff": staff_ids, "nstaff": len(staff_ids),
              "n": N_CONVERSATIONS, "cmin": cmin, "cmax": cmax})
        # 2–4 messages each: the question, the AI's answer (or the hand-off notice), then a follow-up
        # from the customer and a teammate's reply.
        cur.execute("""
            INSERT INTO inbox_message (conversation_id, sender_kind, author_id, body, created_at, client_id, trace,
                                       entities, frustration)
            SELECT c.id,
                   CASE k WHEN 1 THEN 'customer' WHEN 2 THEN CASE WHEN c.handled_by = 'human' THEN 'system'
                        ELSE 'ai' END WHEN 3 THEN 'customer' ELSE 'agent' END,
                   CASE WHEN k = 4 THEN c.assignee_id END,
                   CASE k WHEN 1 THEN c.subject
                          WHEN 2 THEN CASE WHEN c.handled_by = 'human'
                               THEN 'I''m passing this to our support team. A teammate will reply right here.'
                               ELSE 'Here''s what our help centre says: ' || (%(replies)s::text[])[1 + c.id %% %(nr)s]
                               END
                          WHEN 3 THEN (%(questions)s::text[])[1 + (c.id * 31) %% %(nq)s]
                          ELSE (%(replies)s::text[])[1 + (c.id * 17) %% %(nr)s] END,
                   c.created_at + k * interval '1 minute', '',
                   CASE WHEN k = 2 THEN jsonb_build_object('decision', CASE WHEN c.handled_by = 'human'
                        THEN 'handoff' ELSE 'answer' END, 'intent', c.intent, 'confidence', c.intent_confidence,
                        'top_intents', jsonb_build_array(jsonb_build_array(c.intent, c.intent_confidence)))
                        ELSE '{}'::jsonb END,
                   '[]'::jsonb, NULL
            FROM inbox_conversation c
            CROSS JOIN LATERAL generate_series(1, 2 + (c.id * 13) %% 3) k
        """, {"replies": replies, "nr": len(replies), "questions": questions, "nq": len(questions)})
        cur.execute("""
            UPDATE inbox_conversation c SET last_message_at = m.last, search = to_tsvector('english',
                c.subject || ' ' || coalesce(m.body, ''))
            FROM (SELECT conversation_id, max(created_at) AS last,
                         string_agg(body, ' ') FILTER (WHERE sender_kind IN ('customer', 'agent')) AS body
                  FROM inbox_message GROUP BY conversation_id) m
            WHERE m.conversation_id = c.id
        """)
        # A few open conversations snoozed until later today or this week (the snoozed queue).
        cur.execute("""
            UPDATE inbox_conversation SET snoozed_until = now() + (1 + id %% 96) * interval '1 hour'
            WHERE status IN ('open', 'pending') AND id %% 40 = 0
        """, {})
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE inbox_conversation")
        cur.execute("VACUUM ANALYZE inbox_message")
        cur.execute("VACUUM ANALYZE inbox_customer")
        cur.execute("""SELECT count(*), count(*) FILTER (WHERE status = 'open'),
                              count(*) FILTER (WHERE status = 'pending'),
                              count(*) FILTER (WHERE needs_human AND status IN ('open', 'pending')),
                              count(*) FILTER (WHERE assignee_id IS NOT NULL),
                              count(*) FILTER (WHERE status IN ('open', 'pending')
                                               AND search @@ websearch_to_tsquery('english', 'invoice')),
                              (SELECT count(*) FROM inbox_message),
                              count(*) FILTER (WHERE snoozed_until > now())
                       FROM inbox_conversation""")
        total, open_, pending, needs, assigned, invoice_open, messages, snoozed = cur.fetchone()
    return {"conversations": total, "open": open_, "pending": pending, "needs_human_open": needs,
            "assigned": assigned, "open_matching_invoice": invoice_open, "messages": messages, "snoozed": snoozed,
            "customers": N_CUSTOMERS, "accounts": len(accounts), "generate_s": round(time.perf_counter() - t0, 1)}


def lab_site_id() -> int:
    from inbox.models import Site

    return Site.objects.get(key=lab.SITE_KEY).pk


def manager():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="manager@relaymark.example")


# ---------------------------------------------------------------- pages


def time_get(client, url: str, n: int) -> tuple[list[float], int]:
    timings = []
    for _ in range(n):
        t0 = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return timings, len(response.content)


def query_profile(client, url: str) -> dict:
    """Queries one request runs, and the slowest of them (DEBUG-independent capture)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        client.get(url)
    slow = sorted(ctx.captured_queries, key=lambda q: -float(q["time"]))[:8]
    return {"queries": len(ctx.captured_queries),
            "sql_ms_total": round(sum(float(q["time"]) for q in ctx.captured_queries) * 1000, 1),
            "slowest": [{"ms": round(float(q["time"]) * 1000, 1), "sql": q["sql"][:300]} for q in slow]}


def queue_urls() -> dict[str, str]:
    """The URLs with real values: the busiest account and intent, the cursor after page one."""
    from django.db.models import Count

    from inbox import queries
    from inbox.models import Conversation

    open_ = Conversation.objects.filter(status__in=["open", "pending"])
    account = open_.exclude(account=None).values("account").annotate(n=Count("id")).order_by("-n")[0]["account"]
    intent = open_.exclude(intent="").values("intent").annotate(n=Count("id")).order_by("-n")[0]["intent"]
    page_one = list(queries.queue(manager(), "open", {}))
    return {name: url.format(account=account, intent=intent, cursor=queries.cursor_after(page_one[-1]))
            for name, url in QUEUE_URLS.items()}


def pages(urls: dict[str, str]) -> dict:
    from django.test import Client

    client = Client()
    client.force_login(manager())
    out = {}
    for name, url in urls.items():
        time_get(client, url, 5)  # warm-up: plans, template cache, connection
        timings, size = time_get(client, url, REQUESTS)
        out[name] = {**lab.summary(timings), "bytes": size, **query_profile(client, url)}
        # What inbox.js re-fetches on a live event: the list partial (htmx).
        partial = Client(headers={"HX-Request": "true"})
        partial.force_login(manager())
        time_get(partial, url, 3)
        timings, _ = time_get(partial, url, REQUESTS)
        out[name + "_partial"] = lab.summary(timings)
    # inbox.js also re-fetches the queue counts on every conversation_changed event.
    time_get(client, "/inbox/counts/?queue=open", 3)
    timings, _ = time_get(client, "/inbox/counts/?queue=open", REQUESTS)
    out["counts_partial"] = {**lab.summary(timings), **query_profile(client, "/inbox/counts/?queue=open")}
    from inbox.models import Conversation

    ids = list(Conversation.objects.values_list("id", flat=True))
    rng = random.Random(9)
    sample = rng.sample(ids, 30)
    for cid in rng.sample(ids, 5):
        time_get(client, f"/inbox/c/{cid}/", 1)
    timings = []
    for cid in sample:
        timings += time_get(client, f"/inbox/c/{cid}/", 1)[0]
    out["conversation"] = {**lab.summary(timings), **query_profile(client, f"/inbox/c/{sample[0]}/")}
    return out


def explain_page(url: str) -> dict:
    """EXPLAIN ANALYZE of each conversation-table query one page load sends, as the ORM wrote it."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(manager())
    with CaptureQueriesContext(connection) as ctx:
        client.get(url)
    plans = {}
    with connection.cursor() as cur:
        for i, query in enumerate(q["sql"] for q in ctx.captured_queries):
            if "inbox_conversation" not in query:
                continue
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + query)
            plans[f"{i:02d} {query[:90]}"] = [row[0] for row in cur.fetchall()]
    return plans


def conditions() -> dict:
    """The machine is shared: 2 cores, with others' CPU-heavy jobs running at the same time."""
    import subprocess

    return {"uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
            **lab.other_load()}


def previous() -> dict | None:
    """The last committed figures, for comparison (this run overwrites the file)."""
    import json

    from _common import RESULTS

    try:
        old = json.loads((RESULTS / "inbox_latency.json").read_text())
    except (OSError, ValueError):
        return None
    return {"pages_p50_p95_ms": {k: [v.get("p50_ms"), v.get("p95_ms")] for k, v in old.get("pages", {}).items()},
            "conditions": old.get("conditions") or old.get("config", {}).get("load_at_start")}


# ---------------------------------------------------------------- live updates


async def live(port: int, cookie: str, samples: int) -> dict:
    staff = await lab.WS.connect(port, "/ws/inbox/", headers={"Cookie": cookie})
    events: list[tuple[float, dict]] = []
    arrived = asyncio.Event()

    async def reader():
        while True:
            frame = await staff.recv()
            events.append((time.perf_counter(), frame))
            arrived.set()

    task = asyncio.create_task(reader())
    rng = random.Random(21)
    pool = lab.demo_questions()
    lat, misses, slow_answers = [], 0, 0
    try:
        for i in range(samples + 3):
            ws = await lab.widget_hello(port)
            try:
                t0 = time.perf_counter()
                await ws.send({"type": "message", "client_id": os.urandom(8).hex(), "body": rng.choice(pool)})
                while (frame := await asyncio.wait_for(ws.recv(), 30))["type"] != "ack":
                    pass
                cid = frame["message"]["conversation_id"]
                deadline = time.perf_counter() + 10
                hit = None
                while hit is None and time.perf_counter() < deadline:
                    hit = next((t for t, e in events if t >= t0 and e.get("type") == "conversation_changed"
                                and e.get("conversation_id") == cid and e.get("sender") == "customer"), None)
                    if hit is None:
                        arrived.clear()
                        with_timeout = max(0.01, deadline - time.perf_counter())
                        try:
                            await asyncio.wait_for(arrived.wait(), with_timeout)
                        except TimeoutError:
                            pass
                if hit is None:
                    misses += 1
                elif i >= 3:  # the first three are warm-up
                    lat.append((hit - t0) * 1000)
                # Let the AI answer (its events are part of the inbox's normal traffic) before the next one.
                # The first answers also load the models in each worker process: slow on a busy machine.
                with_deadline = time.perf_counter() + (90 if i < 3 else 30)
                try:
                    while time.perf_counter() < with_deadline:
                        f = await asyncio.wait_for(ws.recv(), max(0.1, with_deadline - time.perf_counter()))
                        if f.get("type") == "message" and f["message"]["sender"] in ("ai", "system"):
                            break
                except TimeoutError:
                    slow_answers += 1  # only pacing: the sample above is already taken
            finally:
                await ws.close()
    finally:
        task.cancel()
        await staff.close()
    return {**lab.summary(lat), "missed": misses, "ai_answer_waits_timed_out": slow_answers}


def main() -> None:
    from django.db import connection
    from django.test import Client

    before = previous()
    load_before = lab.other_load()
    conditions_before = conditions()
    with lab.throwaway_db("helpdesk_bench_inbox"):
        lab.seed_kb()
        data = generate()
        print(f"generated {data}", file=sys.stderr)
        urls = queue_urls()
        page_results = pages(urls)
        conditions_after_pages = conditions()
        plans = explain_page(urls["needs_human"])
        client = Client()
        client.force_login(manager())
        cookie = f"sessionid={client.cookies['sessionid'].value}"
        connection.close()
        with lab.Stack(concurrency=2) as stack:
            live_result = asyncio.run(live(stack.port, cookie, LIVE_SAMPLES))
            stack.check()
    result = {
        "config": {"pages": "Django test Client in the bench process, manager via force_login, DEBUG=False",
                   "live": "daphne + celery prefork -c 2; staff ws/inbox/ with the session cookie; fresh visitor "
                           "per sample; first 3 samples are warm-up",
                   "channel_layer_socket_timeout": "redis-py default (5 s)" if lab.STOCK_SETTINGS
                   else "None (fix applied)",
                   "load_at_start": load_before, "load_at_end": lab.other_load(), "urls": urls},
        "conditions": {"at_start": conditions_before, "after_pages": conditions_after_pages,
                       "at_end": conditions()},
        "data": data,
        "pages": page_results,
        "live_update_ms": live_result,
        "explain_needs_human_page": plans,
        "previous_run": before,
    }
    write("inbox_latency", result)
    p = page_results
    queue_p95 = max(p[k]["p95_ms"] for k in QUEUE_URLS)
    print(" ".join(f"{k}_p50/p95_ms={p[k]['p50_ms']}/{p[k]['p95_ms']}" for k in (*QUEUE_URLS, "conversation"))
          + f" counts_p95_ms={p['counts_partial']['p95_ms']} worst_queue_p95_ms={queue_p95}"
          + f" live_p50_ms={live_result['p50_ms']} live_p95_ms={live_result['p95_ms']} n_live={live_result['n']}"
          + f" conversations={data['conversations']} loadavg={conditions_after_pages['loadavg_1_5_15']}")


if __name__ == "__main__":
    main()
