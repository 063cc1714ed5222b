"""Usage pages: the staff dashboard (/usage/admin/, its tables as CSV) and each user's own Usage page (/usage/).

Thin: the form picks a period and filters, `reports` reads the ledger, the
templates and `charts` draw it.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import wraps
from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from aimlweb.http import SignedInRequest
from conversations.chat import pages
from conversations.models import Charge, Turn

from . import budgets, charts, exports, links, periods, report_csv, reports
from .admin_filters import distinct_values

DASHBOARD_TABLES = ("days", "users", "models", "matrix", "statuses", "top")
# A person's own page reads their charges one by one for the per-conversation table: a month or so.
USER_PERIODS = ("month", "last_month", "7d", "30d")


def staff_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Anonymous: to the sign-in page. Signed in but not staff: 404 (the page does not exist for them)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (request.user.is_active and request.user.is_staff):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


class UsageFilterForm(forms.Form):
    period = forms.ChoiceField(choices=list(periods.PERIODS.items()), initial="30d", required=False)
    start = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    user = forms.ChoiceField(required=False)
    model = forms.ChoiceField(required=False)
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Turn.Status.choices])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        users = get_user_model().objects.order_by("username").values_list("pk", "username")
        cast(forms.ChoiceField, self.fields["user"]).choices = [
            ("", "Everyone"),
            *((str(pk), name) for pk, name in users),
            (periods.DELETED, "(deleted users)"),
        ]
        cast(forms.ChoiceField, self.fields["model"]).choices = [
            ("", "Every model"),
            *((m, m) for m in distinct_values(Charge, "model")),
        ]

    def clean(self) -> dict[str, Any]:
        data = cast(dict[str, Any], super().clean())  # Form.clean returns cleaned_data
        key = data.get("period") or "30d"
        if key != "custom":  # the date boxes count only for a custom range
            data["start"] = data["end"] = None
        try:
            data["period_obj"] = periods.period_for(key, start=data.get("start"), end=data.get("end"))
        except ValueError as exc:
            self.add_error("start" if key == "custom" else "period", str(exc))
        return data

    def selection(self) -> tuple[periods.Period, periods.Filters]:
        """The chosen period and filters; the last 30 days of everything when the form is not valid."""
        if self.is_bound and self.is_valid():
            data = self.cleaned_data
            filters = periods.Filters(user=data["user"], model=data["model"], status=data["status"])
            return data["period_obj"], filters
        return periods.period_for("30d"), periods.Filters()


def _budget_for_pace(filters: periods.Filters) -> Decimal | None:
    """The budget the month's pace is measured against: the user's when one user is picked, else the instance's."""
    if filters.model or filters.status or filters.user == periods.DELETED:
        return None
    if filters.user:
        user = get_user_model().objects.filter(pk=int(filters.user)).first()
        return budgets.budget_for(user) if user else None
    return budgets.instance_budget()


@staff_required
@require_GET
def dashboard(request: SignedInRequest) -> HttpResponse:
    form = UsageFilterForm(request.GET or None)
    period, filters = form.selection()
    data = reports.report(period, filters, link=links.charges_url)
    series = data.matrix_models
    query = request.GET.urlencode()
    context = {
        "form": form,
        "report": data,
        "pace": reports.month_pace(filters, budget=_budget_for_pace(filters)),
        "near_budget": reports.users_near_budget(warning_percent=budgets.WARNING_PERCENT, link=links.charges_url),
        "warning_percent": budgets.WARNING_PERCENT,
        "day_chart": charts.stacked_bars(data.chart_days, series, title="Cost per day, stacked by model"),
        "legend": charts.legend(series),
        "user_chart": charts.horizontal_bars(
            [(row.label, row.url, row.figures.cost_usd) for row in data.users[:10]], title="Top users by cost"
        ),
        "csv_url": reverse("usage_dashboard_csv") + "?" + (query + "&" if query else "") + "table=",
        "charges_url": links.charges_url(period, filters),
        "unknown_usage": reports.unknown_usage(period),
        "unknown_url": links.charges_url(period, usage_unknown__exact=1),
        "failed_url": links.charges_url(period, filters, status=Turn.Status.FAILED),
        "month_url": links.charges_url(periods.period_for("month"), filters),
        "time_zone": settings.TIME_ZONE,
        **pages.sidebar(request),
    }
    return render(request, "conversations/usage/dashboard.html", context)


@staff_required
@require_GET
def dashboard_csv(request: SignedInRequest) -> StreamingHttpResponse:
    table = request.GET.get("table", "")
    if table not in DASHBOARD_TABLES:
        raise Http404
    form = UsageFilterForm(request.GET)
    period, filters = form.selection()
    header, rows = report_csv.csv_table(reports.report(period, filters), table)
    name = f"usage-{table}-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"
    return exports.csv_response(request, name, header, rows)


@login_required
@require_GET
def my_usage(request: SignedInRequest) -> HttpResponse:
    key = request.GET.get("period", "month")
    period = periods.period_for(key if key in USER_PERIODS else "month")
    usage = reports.user_usage(request.user, period)
    series = [row.key for row in usage.models]
    context = {
        "usage": usage,
        "periods": [(k, periods.PERIODS[k]) for k in USER_PERIODS],
        "budget": budgets.status_for(request.user),
        "day_chart": charts.stacked_bars(usage.chart_days, series, title="Your cost per day, stacked by model"),
        "legend": charts.legend(series),
        **pages.sidebar(request),
    }
    return render(request, "conversations/usage/mine.html", context)
