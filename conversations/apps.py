from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate


def _seed_catalogue(sender, **kwargs):
    # Models named in the environment after the first migrate are added too (never changed).
    from .models import AIModel
    from .usage import catalog

    catalog.seed(AIModel)


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = "Conversations"

    def ready(self):
        post_migrate.connect(_seed_catalogue, sender=self)
        # SQLite drops a table's triggers when a migration rebuilds the table: put the search index's back.
        from conversations.history.search_index import after_migrate

        post_migrate.connect(after_migrate, sender=self)
        # An attachment's file goes with the last row naming it (a conversation's or a user's delete too).
        from conversations.attachments.storage import attachment_deleted
        from conversations.models import Attachment

        post_delete.connect(attachment_deleted, sender=Attachment, dispatch_uid="attachment_deleted")
