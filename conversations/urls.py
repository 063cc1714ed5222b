from django.urls import path

from .attachments import views as attach
from .chat import banners, views
from .history import views as hist
from .live import stream
from .usage import views as views_usage

urlpatterns = [
    path("", views.home, name="home"),
    path("c/<uuid:conversation_id>/", views.conversation, name="conversation"),
    path("c/<uuid:conversation_id>/settings/", views.conversation_settings, name="conversation_settings"),
    path("c/<uuid:conversation_id>/rename/", views.conversation_rename, name="conversation_rename"),
    path("c/<uuid:conversation_id>/switch-model/", views.conversation_switch_model, name="conversation_switch_model"),
    path("c/<uuid:conversation_id>/delete/", views.conversation_delete, name="conversation_delete"),
    path("c/<uuid:conversation_id>/export.md", hist.conversation_export_markdown, name="conversation_export_markdown"),
    path("c/<uuid:conversation_id>/export.json", hist.conversation_export_json, name="conversation_export_json"),
    path("c/<uuid:conversation_id>/share/", hist.share_create, name="share_create"),
    path("s/<str:token>/", hist.share_view, name="share"),
    path("s/<str:token>/revoke/", hist.share_revoke, name="share_revoke"),
    path("s/<str:token>/a/<uuid:attachment_id>/", attach.shared_file, name="shared_attachment"),
    path(
        "s/<str:token>/a/<uuid:attachment_id>/thumb/",
        attach.shared_file,
        {"thumbnail": True},
        name="shared_attachment_thumbnail",
    ),
    path("attachments/", attach.attachment_upload, name="attachment_upload"),
    path("a/<uuid:attachment_id>/", attach.attachment_file, name="attachment_file"),
    path("a/<uuid:attachment_id>/thumb/", attach.attachment_file, {"thumbnail": True}, name="attachment_thumbnail"),
    path("a/<uuid:attachment_id>/discard/", attach.attachment_discard, name="attachment_discard"),
    path("transfer/", hist.transfer_page, name="transfer"),
    path("transfer/export.json", hist.export_all, name="export_all"),
    path("transfer/import/", hist.import_upload, name="import_upload"),
    path("conversations/", hist.conversation_list, name="conversation_list"),
    path("search/", hist.search_page, name="search"),
    path("c/<uuid:conversation_id>/turns/", views.conversation_turns, name="conversation_turns"),
    path("t/<uuid:turn_id>/edit/", views.turn_edit, name="turn_edit"),
    *(
        path(
            f"c/<uuid:conversation_id>/{action}/",
            hist.conversation_organise,
            {"action": action},
            name=f"conversation_{action}",
        )
        for action in ("pin", "unpin", "archive", "unarchive")
    ),
    path("usage/", views_usage.my_usage, name="usage"),
    path("usage/admin/", views_usage.dashboard, name="usage_dashboard"),
    path("usage/admin/csv/", views_usage.dashboard_csv, name="usage_dashboard_csv"),
    path("banners/dismiss/", banners.banner_dismiss, name="banner_dismiss"),
    path("events/", stream.stream, name="events"),
    path("t/<uuid:turn_id>/live/", views.turn_live, name="turn_live"),
    path("t/<uuid:turn_id>/cancel/", views.turn_cancel, name="turn_cancel"),
    path("t/<uuid:turn_id>/retry/", views.turn_retry, name="turn_retry"),
    path("t/<uuid:turn_id>/send/", views.turn_send, name="turn_send"),
    path("t/<uuid:turn_id>/regenerate/", views.turn_regenerate, name="turn_regenerate"),
    path("t/<uuid:turn_id>/show/", views.turn_show, name="turn_show"),
]
