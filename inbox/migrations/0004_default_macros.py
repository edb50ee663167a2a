"""Seed the canned replies that used to be a constant list in inbox/macros.py, as shared macros.

A frozen copy (migrations must not follow later edits of the app's code). inbox.macros.restore_defaults
puts the same five back after a `flush`.
"""

from django.db import migrations
from django.utils import timezone

DEFAULTS = [
    ("Greeting", "Hi {{customer.first_name}}, thanks for getting in touch! I'm {{agent.first_name}} and I'll help "
                 "you with this."),
    ("Looking into it", "Thanks {{customer.first_name}}, I'm looking into this now and will get back to you shortly."),
    ("Billing: current plan", "I can see your account is on the {{account.plan}} plan. Let me check the invoice "
                              "details for you."),
    ("Ask for details", "Could you send me a screenshot or the exact error message you see? That helps me find the "
                        "cause faster."),
    ("Closing", "Glad we could sort this out, {{customer.first_name}}. If anything else comes up, just reply here. "
                "— {{agent.first_name}}"),
]


def seed(apps, schema_editor):
    Macro = apps.get_model("inbox", "Macro")
    db = schema_editor.connection.alias
    now = timezone.now()
    for name, body in DEFAULTS:
        if not Macro.objects.using(db).filter(name=name, shared=True, team=None).exists():
            Macro.objects.using(db).create(name=name, body=body, shared=True, created_at=now, updated_at=now)


def unseed(apps, schema_editor):
    Macro = apps.get_model("inbox", "Macro")
    Macro.objects.using(schema_editor.connection.alias).filter(
        created_by=None, shared=True, team=None, name__in=[name for name, _ in DEFAULTS]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("inbox", "0003_macro"),
    ]

    operations = [
        migrations.RunPython(seed, unseed),
    ]
