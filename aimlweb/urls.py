from django.contrib import admin
from django.urls import include, path

# The admin carries the app's name (its favicon and compact lists: templates/admin/base_site.html).
admin.site.site_header = "aimlweb admin"
admin.site.site_title = "aimlweb admin"
admin.site.index_title = "Users, conversations, models and money"
# Django's sidebar of every app takes 300 px of each list: the breadcrumbs and the index lead there instead.
admin.site.enable_nav_sidebar = False

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("ops.urls")),
    path("", include("accounts.urls")),
    path("", include("conversations.urls")),
]

# The 500 page, with a bare fallback when even it cannot be drawn.
handler500 = "aimlweb.errors.server_error"
