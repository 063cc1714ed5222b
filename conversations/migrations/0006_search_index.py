"""Full-text search index: SQLite FTS5 + triggers, or PostgreSQL tsvector columns + GIN.

The index lives beside the tables and is derived from them, so its definition is not frozen
here: the app's post_migrate handler (`search_index.after_migrate`, connected in apps.py)
installs the current definition after every `migrate`, repairs its triggers and indexes what
is stored. This migration once imported that code; it now only marks the point from which the
index exists, so that changing the index's code never changes what an old migration does.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("conversations", "0005_provider_circuit")]

    operations = []
