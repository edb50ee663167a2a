from django.core.management.base import CommandError
from django.db import migrations


def create_vector_extension(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
        if cursor.fetchone() is None:
            raise CommandError(
                "The PostgreSQL server at DATABASE_URL has no 'vector' extension. Install pgvector on it "
                "(e.g. `apt-get install postgresql-NN-pgvector`) or unset DATABASE_URL to use the embedded server."
            )
        cursor.execute("CREATE EXTENSION IF NOT EXISTS vector")


class Migration(migrations.Migration):
    initial = True
    dependencies: list = []
    operations = [migrations.RunPython(create_vector_extension, migrations.RunPython.noop)]
