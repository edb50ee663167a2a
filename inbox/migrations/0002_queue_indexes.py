"""Partial indexes for the inbox queues (queries.queue / queries.queue_counts).

Each queue page reads one of these in (last_message_at, id) order and stops after 50 rows, and
each badge count stops after 1,001; without them "needs a human" sorted 4,469 rows per request
and "snoozed" scanned the whole table (bench/inbox_latency.py, 100k conversations).

Raw SQL rather than Meta.indexes because Conversation's model definition is shared with other
work in flight; the indexes are invisible to the ORM's state on purpose and change no behaviour.
CONCURRENTLY (hence atomic = False) so adding them to a large live table does not block writes.
"""

from django.db import migrations

INDEXES = {
    "inbox_conv_queue_needs_human": "(last_message_at DESC, id DESC) WHERE needs_human AND status IN ('open', 'pending')",
    "inbox_conv_queue_open": "(last_message_at DESC, id DESC) WHERE status IN ('open', 'pending')",
    "inbox_conv_queue_mine": "(assignee_id, last_message_at DESC, id DESC) WHERE status IN ('open', 'pending')",
    "inbox_conv_snoozed": "(snoozed_until) WHERE snoozed_until IS NOT NULL",
}


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("inbox", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            sql=f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON inbox_conversation {definition}",
            reverse_sql=f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
        )
        for name, definition in INDEXES.items()
    ]
