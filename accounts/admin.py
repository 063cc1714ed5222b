from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from . import notices, services, setup
from .models import EmailNotice, FirstAdminSetup, Invite, PendingSignup

User = get_user_model()


class PendingFilter(admin.SimpleListFilter):
    title = "sign-up"
    parameter_name = "pending"

    def lookups(self, request, model_admin):
        return [("yes", "Waiting for approval")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(pending_signup__isnull=False)
        return queryset


admin.site.unregister(User)


@admin.register(User)
class AccountUserAdmin(UserAdmin):
    """Django's user admin (its "Change password" form is the admin password reset), plus approval."""

    list_display = ("username", "is_active", "is_staff", "is_superuser", "date_joined", "last_login", "waiting")
    list_filter = (PendingFilter, *UserAdmin.list_filter)
    actions = ["approve", "sign_out_everywhere"]

    @admin.display(boolean=True, description="waiting for approval")
    def waiting(self, user):
        return hasattr(user, "pending_signup")

    @admin.action(description="Approve selected sign-ups (they can sign in)")
    def approve(self, request, queryset):
        approved = services.users_approve(users=queryset)
        self.message_user(request, f"Approved {approved} sign-up(s).", messages.SUCCESS)

    @admin.action(description="Sign selected users out everywhere")
    def sign_out_everywhere(self, request, queryset):
        ended = sum(services.sessions_end_all(user=user) for user in queryset)
        self.message_user(request, f"Ended {ended} session(s).", messages.SUCCESS)


@admin.register(PendingSignup)
class PendingSignupAdmin(admin.ModelAdmin):
    list_display = ("user", "created_at")
    actions = ["approve"]

    @admin.action(description="Approve selected sign-ups")
    def approve(self, request, queryset):
        approved = services.users_approve(users=User.objects.filter(pending_signup__in=queryset))
        self.message_user(request, f"Approved {approved} sign-up(s).", messages.SUCCESS)


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin):
    list_display = ("__str__", "created_by", "created_at", "expires_at", "used_by", "used_at")
    readonly_fields = ("link", "created_by", "created_at", "used_by", "used_at")
    fields = ("note", "expires_at", "link", "created_by", "created_at", "used_by", "used_at")

    def get_changeform_initial_data(self, request):
        return {"expires_at": timezone.now() + timedelta(days=7)}

    class Media:
        js = [forms.Script("js/admin-copy.js", type="module")]

    @admin.display(description="link to send")
    def link(self, invite):
        if not invite.pk:
            return "Shown once saved."
        if not invite.usable:
            return "Used or expired."
        return format_html(
            '<span class="copy-field"><input type="text" readonly id="invite-link" value="{}" size="60" '
            'aria-label="Invitation link">'
            '<button type="button" class="button" data-copy="invite-link" hidden>Copy link</button></span>',
            setup.site_url() + invite.get_absolute_url(),
        )

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        """Saved: its page, with the link to send beside a Copy button (not the list, where no link shows)."""
        if "_addanother" in request.POST or IS_POPUP_VAR in request.POST:
            return super().response_add(request, obj, post_url_continue)
        whom = f" to {obj.note}" if obj.note else ""
        self.message_user(request, f"Invite saved. Copy its link below and send it{whom}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:accounts_invite_change", args=[obj.pk]))


@admin.register(FirstAdminSetup)
class FirstAdminSetupAdmin(admin.ModelAdmin):
    list_display = ("__str__", "created_at", "claimed_at", "claimed_by")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(EmailNotice)
class EmailNoticeAdmin(admin.ModelAdmin):
    """The emails the site wrote (accounts/mail.py): sent, or waiting for the mail server, with its last error."""

    list_display = ("created_at", "kind", "to", "subject", "sent_at", "attempts", "error")
    list_filter = ("kind", ("sent_at", admin.EmptyFieldListFilter))
    search_fields = ("to", "subject")
    actions = ["resend"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Send the selected unsent emails again")
    def resend(self, request, queryset):
        queued = notices.notices_resend(emails=queryset)
        self.message_user(request, f"Queued {queued} email(s).", messages.SUCCESS)
