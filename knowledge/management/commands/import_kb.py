"""`python manage.py import_kb PATH`: thin wrapper over knowledge.importers.import_path."""

from django.core.management.base import BaseCommand, CommandError

from knowledge.importers import ImportFileError, import_path
from knowledge.models import Area, ArticleStatus


class Command(BaseCommand):
    help = (
        "Import help articles from a folder of .md/.markdown/.html/.htm files (front matter optional: "
        "title, area, tags, url), a .csv (columns title, body, url; optional area, tags) or a .json list "
        "of {title, body, url}. Re-running is idempotent: unchanged articles are left alone."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument(
            "--status", choices=ArticleStatus.values, default=None,
            help="Status for imported articles. Default: new articles are published and articles "
                 "imported before keep the status an editor gave them; given, it applies to all.",
        )
        parser.add_argument("--area", choices=Area.values, default=Area.OTHER,
                            help="Area for articles whose front matter or row names none (default: other).")
        parser.add_argument("--async", action="store_true", dest="use_async",
                            help="Queue re-embedding in Celery instead of embedding before the command returns.")

    def handle(self, *args, path: str, status: str | None, area: str, use_async: bool, verbosity: int, **opts):
        try:
            report = import_path(path, status=status, default_area=area, reindex="async" if use_async else "now",
                                 progress=verbosity > 0, stream=self.stderr._out)
        except ImportFileError as error:
            raise CommandError(f"{error} Nothing was imported.") from None
        for line in report.lines()[1:]:
            self.stdout.write(line)
        style = self.style.WARNING if report.skipped else self.style.SUCCESS
        self.stdout.write(style(report.lines()[0]))
