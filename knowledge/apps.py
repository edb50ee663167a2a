import logging

from django.apps import AppConfig
from django.db import DatabaseError
from django.db.backends.signals import connection_created


def _search_settings(sender, connection, **kwargs) -> None:
    """Set once per connection what every search needs, instead of a transaction per search.

    hnsw.iterative_scan lets the HNSW index keep scanning when the published-articles filter
    rejects chunks of drafts (pgvector ≥ 0.8). Before the extension exists PostgreSQL keeps it as a
    placeholder, so migrations and a database without pgvector are unaffected.
    """
    if connection.vendor != "postgresql":
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET hnsw.iterative_scan = relaxed_order")
    except DatabaseError:  # a pgvector older than 0.8: search still works, drafts may crowd the dense branch
        logging.getLogger(__name__).warning("hnsw.iterative_scan not available", exc_info=True)


class KnowledgeConfig(AppConfig):
    name = "knowledge"
    verbose_name = "Knowledge"

    def ready(self) -> None:
        connection_created.connect(_search_settings, dispatch_uid="knowledge.search_settings")
