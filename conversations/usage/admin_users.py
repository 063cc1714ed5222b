"""A user's monthly budget, edited on the user's admin page.

Adds an inline to whichever admin is registered for the user model (accounts/admin.py
registers one), so the two modules stay independent.
"""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from conversations.models import UserBudget

User = get_user_model()


class UserBudgetForm(forms.ModelForm):
    class Meta:
        model = UserBudget
        fields = ("monthly_usd", "unlimited")
        labels = {"monthly_usd": "Monthly budget (USD)", "unlimited": "No budget"}


class UserBudgetInline(admin.StackedInline):
    model = UserBudget
    form = UserBudgetForm
    max_num = 1
    verbose_name = "monthly budget"

    def get_fieldsets(self, request, obj=None):
        default = settings.BUDGET_MONTHLY_USD
        default = "none" if default is None else f"{default} USD"
        description = (
            f"Empty: the default applies (BUDGET_MONTHLY_USD, now {default}). Prompts that could pass the budget "
            "this month are refused before anything is sent."
        )
        return [(None, {"fields": ("monthly_usd", "unlimited"), "description": description})]


try:
    base = type(admin.site.get_model_admin(User))
    admin.site.unregister(User)
except NotRegistered:
    base = UserAdmin


@admin.register(User)
class BudgetUserAdmin(base):  # type: ignore[valid-type,misc]  # a base chosen at run time: mypy takes none
    inlines = [*base.inlines, UserBudgetInline]
