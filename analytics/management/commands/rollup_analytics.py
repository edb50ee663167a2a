"""`python manage.py rollup_analytics [--days N | --all] [--insights]`: (re)build the analytics tables."""

import datetime as dt

from django.core.management.base import BaseCommand
from django.utils import timezone
from tqdm import tqdm

from analytics.models import RollupState
from analytics.rollups import all_days, local_day, recompute_days


class Command(BaseCommand):
    help = "Recompute daily analytics rollups (default: the last 2 days) and optionally topics/gaps/drift."

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--days", type=int, default=2, help="Recompute the last N days (today included).")
        group.add_argument("--all", action="store_true", help="Recompute every day that has conversations.")
        parser.add_argument("--insights", action="store_true", help="Also refresh topics, spikes, gaps and drift.")

    def handle(self, *args, days: int, all: bool, insights: bool, **opts):
        now = timezone.now()
        if all:
            wanted = all_days()
        else:
            today = local_day(now)
            wanted = [today - dt.timedelta(days=i) for i in range(max(days, 1))]
        with tqdm(total=len(wanted), desc="Rollups", unit="day", disable=opts.get("verbosity", 1) == 0) as bar:
            rows = recompute_days(wanted, progress=lambda day: bar.update(1))
        if all:  # everything is current: later runs only need what changes after now
            RollupState.objects.update_or_create(name="rollup", defaults={"watermark": now})
        self.stdout.write(self.style.SUCCESS(f"Rolled up {len(wanted)} days ({rows} rows)."))
        if insights:
            from analytics.tasks import refresh_insights

            self.stdout.write(f"Insights: {refresh_insights()}")
