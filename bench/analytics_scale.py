"""Analytics at scale: overview p95 and the one-day incremental rollup on 1M conversations / 5M messages.

Usage: python bench/analytics_scale.py [--conversations 1000000] [--messages-per 5] [--days 365]
                                       [--accounts 20000] [--requests 30] [--reuse]

Works in a SEPARATE database (helpdesk_bench on the same PostgreSQL server; never the dev data),
migrated with the project's migrations and filled with generate_series SQL (an ORM loop would
take hours). Rollups for every day are precomputed, then: 30 GETs of /analytics/ through
Django's test Client (p50/p95), and the incremental rollup for one new day of traffic.
Writes bench/results/analytics_scale.json; the last line is the summary.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
BENCH_DB = "helpdesk_bench"
RESULTS = ROOT / "bench" / "results" / "analytics_scale.json"
REASONS = ["billing_error", "bug", "angry_customer", "high_value_account", "policy_exception",
           "missing_knowledge", "customer_request", "low_confidence", "other"]


def bench_database_url() -> str:
    """Create helpdesk_bench next to the dev database and return its URL."""
    import psycopg

    base = os.environ.get("DATABASE_URL")
    if not base:
        from helpdesk import embedded

        base = embedded.database_url()
    with psycopg.connect(base, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone():
            conn.execute(f"CREATE DATABASE {BENCH_DB}")
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path="/" + BENCH_DB))


def step(label: str, fn, *args):
    started = time.perf_counter()
    out = fn(*args)
    took = time.perf_counter() - started
    print(f"  {label}: {took:.1f}s", flush=True)
    return out, took


def generate(cursor, n_conv: int, per: int, days: int, n_acc: int) -> dict:
    """Accounts, customers, conversations (over `days` up to yesterday) and `per` messages each."""
    n_cust = n_acc * 10
    timings = {}
    cursor.execute("""TRUNCATE inbox_message, inbox_outcome, inbox_label, inbox_draft, inbox_conversation,
                      inbox_customer, inbox_account, knowledge_article, analytics_dailyrollup, analytics_rollupstate
                      RESTART IDENTITY CASCADE""")
    cursor.execute("""
        INSERT INTO knowledge_article (title, slug, body, status, area, tags, source_url, import_key,
                                       created_at, updated_at)
        SELECT 'Article ' || g, 'article-' || g, 'Body', 'published',
               (ARRAY['billing','onboarding','integrations','known-bugs','account-admin'])[1 + g % 5],
               '{}', '', '', now(), now() FROM generate_series(1, 30) g""")
    _, timings["accounts_customers"] = step("accounts + customers", cursor.execute, f"""
        INSERT INTO inbox_account (name, external_id, crm_id, billing_id, plan, mrr, seats, signed_up_at, attributes)
        SELECT 'Account ' || g, '', '', '', (ARRAY['free','starter','growth','enterprise'])[1 + g % 4], 100, 1,
               now() - random() * interval '1500 days',
               jsonb_build_object('industry', (ARRAY['Agency','Software','Legal','Retail'])[1 + g % 4])
        FROM generate_series(1, {n_acc}) g;
        INSERT INTO inbox_customer (account_id, email, name, external_id, is_verified, attributes, created_at)
        SELECT 1 + (g - 1) % {n_acc}, 'c' || g || '@bench.example', 'Customer ' || g, '', true, '{{}}', now()
        FROM generate_series(1, {n_cust}) g""")
    _, timings["conversations"] = step("conversations", cursor.execute, conversation_sql(n_conv, n_cust, n_acc,
                                                                                        days, "1 day"))
    cursor.execute("UPDATE inbox_conversation SET follow_up_of_id = id - 1 WHERE id % 100 = 0")
    _, timings["messages"] = step("messages", cursor.execute, message_sql(per, 1, n_conv))
    _, timings["analyze"] = step("analyze", cursor.execute, "ANALYZE")
    return timings


def conversation_sql(n: int, n_cust: int, n_acc: int, days: float, offset: str) -> str:
    """`n` conversations spread over `days` ending `offset` ago; fates mimic the demo's mix."""
    reasons = "ARRAY[" + ",".join(f"'{r}'" for r in REASONS) + "]"
    return f"""
        INSERT INTO inbox_conversation (customer_id, account_id, channel, status, subject, intent, intent_confidence,
            handled_by, needs_human, escalation_reason, escalation_note, page_context, session_trail, created_at,
            last_message_at, first_response_at, first_response_seconds, resolved_at, resolution_seconds, csat,
            abandoned, is_spam, version)
        SELECT cust, 1 + (cust - 1) % {n_acc},
               CASE WHEN r1 < 0.8 THEN 'chat' WHEN r1 < 0.95 THEN 'email' ELSE 'api' END,
               CASE fate WHEN 'open' THEN 'open' WHEN 'abandoned' THEN 'closed' ELSE 'resolved' END,
               'Question ' || g, 'intent_' || (g % 30), 0.8,
               CASE WHEN fate = 'esc' THEN 'human' ELSE 'ai' END, fate = 'open',
               CASE WHEN fate IN ('esc', 'open') THEN ({reasons})[1 + g % 9] ELSE '' END, '', '{{}}', '[]',
               ts, ts + interval '10 minutes', ts + interval '2 seconds',
               CASE WHEN fate = 'esc' THEN 60 + (r2 * 7200)::int ELSE 2 END,
               CASE WHEN fate IN ('ai', 'esc') THEN ts + interval '20 minutes' END,
               CASE WHEN fate IN ('ai', 'esc') THEN 60 + (r2 * 20000)::int END,
               CASE WHEN r2 < 0.4 THEN 1 + (r1 * 4.99)::int END,
               fate = 'abandoned', false, 0
        FROM (
            SELECT g, 1 + (random() * ({n_cust} - 1))::int AS cust, random() AS r1, random() AS r2,
                   now() - interval '{offset}' - random() * interval '{days} days' AS ts,
                   (ARRAY['ai','ai','ai','ai','ai','ai','esc','esc','esc','abandoned','open'])[1 + (random() * 10)::int]
                       AS fate
            FROM generate_series(1, {n}) g
        ) x"""


def message_sql(per: int, first_id: int, last_id: int) -> str:
    """`per` messages per conversation: customer, AI (or a hand-off note), customer, agent/AI, customer…"""
    return f"""
        INSERT INTO inbox_message (conversation_id, sender_kind, body, created_at, client_id, trace, entities)
        SELECT c.id,
               CASE WHEN k % 2 = 1 THEN 'customer'
                    WHEN k = 2 AND c.handled_by = 'human' AND c.id % 2 = 0 THEN 'system'
                    WHEN k >= 4 AND c.handled_by = 'human' THEN 'agent'
                    ELSE 'ai' END,
               'Message ' || k || ' of conversation ' || c.id, c.created_at + k * interval '1 minute', '',
               CASE WHEN k % 2 = 0 AND NOT (c.handled_by = 'human' AND (k >= 4 OR c.id % 2 = 0))
                    THEN jsonb_build_object('chosen', jsonb_build_object('article_id', 1 + c.id % 30))
                    ELSE '{{}}'::jsonb END,
               '[]'
        FROM inbox_conversation c CROSS JOIN generate_series(1, {per}) k
        WHERE c.id BETWEEN {first_id} AND {last_id}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=1_000_000)
    parser.add_argument("--messages-per", type=int, default=5)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--reuse", action="store_true", help="Keep the generated data and rollups if present.")
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = bench_database_url()
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from analytics.models import DailyRollup, RollupState
    from analytics.rollups import all_days, incremental_update, local_day, recompute_day, recompute_days
    from helpdesk.accounts import MANAGER, ensure_roles
    from inbox.models import Conversation, Message

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    print(f"Bench database {connection.settings_dict['NAME']}", flush=True)
    call_command("migrate", verbosity=0)
    result: dict = {"target_conversations": args.conversations, "messages_per_conversation": args.messages_per,
                    "days": args.days, "accounts": args.accounts}
    if args.reuse and RESULTS.exists():  # keep the generation figures of the run that made the data
        previous = json.loads(RESULTS.read_text())
        result.update({k: previous[k] for k in ("generate_seconds", "rollup_all_seconds") if k in previous})
        result["reused_data"] = True
    have = Conversation.objects.count()
    today = local_day(timezone.now())
    with connection.cursor() as cursor:
        if not (args.reuse and have >= args.conversations):
            print("Generating …", flush=True)
            result["generate_seconds"] = generate(cursor, args.conversations, args.messages_per, args.days,
                                                  args.accounts)
        # The benchmark's "new day": drop whatever today holds, then add one average day of traffic.
        midnight = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
        cursor.execute("""DELETE FROM inbox_message WHERE conversation_id IN
                          (SELECT id FROM inbox_conversation WHERE created_at >= %s)""", [midnight])
        cursor.execute("UPDATE inbox_conversation SET follow_up_of_id = NULL WHERE follow_up_of_id IN "
                       "(SELECT id FROM inbox_conversation WHERE created_at >= %s)", [midnight])
        cursor.execute("DELETE FROM inbox_conversation WHERE created_at >= %s", [midnight])
    if not (args.reuse and DailyRollup.objects.filter(day__lt=today).exists()):
        days = [d for d in all_days() if d < today]
        _, result["rollup_all_seconds"] = step(f"rollup of {len(days)} days", recompute_days, days)
    RollupState.objects.update_or_create(name="rollup", defaults={"watermark": timezone.now()})
    result["conversations"] = Conversation.objects.count()
    result["messages"] = Message.objects.count()
    result["rollup_rows"] = DailyRollup.objects.count()

    per_day = max(1, args.conversations // args.days)
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM inbox_conversation")
        first = cursor.fetchone()[0] + 1
        hours = max(timezone.localtime().hour, 1)
        cursor.execute(conversation_sql(per_day, args.accounts * 10, args.accounts, hours / 24, "0 minutes"))
        cursor.execute(message_sql(args.messages_per, first, first + per_day))
    result["new_day_conversations"] = per_day
    _, result["rollup_one_day_seconds"] = step("rollup of the new day", recompute_day, today)
    days_done, result["incremental_run_seconds"] = step("incremental run (yesterday, today, dirty days)",
                                                        incremental_update)
    result["incremental_run_days"] = len(days_done)

    ensure_roles()
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username="bench-manager@example.com",
                                                     defaults={"email": "bench-manager@example.com", "is_staff": True})
    user.groups.add(ensure_roles()[MANAGER])
    client = Client()
    client.force_login(user)
    timings = {}
    for name, url in [("overview", "/analytics/"), ("overview_daily_90d", "/analytics/?grain=day"),
                      ("overview_365d", "/analytics/?days=365"), ("overview_account", "/analytics/?account=7"),
                      ("intents", "/analytics/intents/"), ("cohorts", "/analytics/cohorts/"),
                      ("churn", "/analytics/churn/")]:
        client.get(url)  # warm-up (template compile, first connection), not counted
        samples = []
        for _ in range(args.requests if name == "overview" else max(5, args.requests // 3)):
            started = time.perf_counter()
            response = client.get(url)
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        samples.sort()
        timings[name] = {"n": len(samples), "p50_ms": round(statistics.median(samples), 1),
                         "p95_ms": round(samples[max(0, int(round(0.95 * (len(samples) - 1))))], 1),
                         "max_ms": round(samples[-1], 1)}
        print(f"  {name}: p50 {timings[name]['p50_ms']} ms, p95 {timings[name]['p95_ms']} ms", flush=True)
    result["pages"] = timings
    result["overview_p95_ms"] = timings["overview"]["p95_ms"]
    result["targets"] = {"overview_p95_ms": 500, "rollup_one_day_seconds": 30}
    result["ok"] = result["overview_p95_ms"] <= 500 and result["rollup_one_day_seconds"] <= 30
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, default=str))
    print(f"conversations={result['conversations']} messages={result['messages']} "
          f"overview_p95_ms={result['overview_p95_ms']} rollup_one_day_s={result['rollup_one_day_seconds']:.2f} "
          f"ok={str(result['ok']).lower()}")


if __name__ == "__main__":
    main()
