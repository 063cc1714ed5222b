from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("ops.urls")),
    path("", include("accounts.urls")),
    path("", include("conversations.urls")),
]

# The 500 page, with a bare fallback when even it cannot be drawn.
handler500 = "aimlweb.errors.server_error"
