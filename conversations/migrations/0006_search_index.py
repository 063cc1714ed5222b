"""Full-text search index: SQLite FTS5 + triggers, or PostgreSQL tsvector columns + GIN (search_index.py).

No model changes: the index lives beside the tables, so this is RunPython only. It installs
the current definition and indexes what is already stored.
"""

from django.db import migrations


def install(apps, schema_editor):
    from conversations import search_index

    search_index.ensure_installed()


def uninstall(apps, schema_editor):
    from conversations import search_index

    search_index.uninstall()


class Migration(migrations.Migration):
    dependencies = [("conversations", "0005_provider_circuit")]

    operations = [migrations.RunPython(install, uninstall)]
