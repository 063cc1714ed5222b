"""Links from a figure of the usage pages to the rows behind it: the admin's charge list, filtered.

Presentation, not reading: reports.py takes the link builder as a parameter (`link=charges_url`),
so the reads know nothing of the admin's URLs.
"""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from .periods import DELETED, Filters, Period


def charges_url(period: Period, filters: Filters = Filters(), **narrower: Any) -> str:  # noqa: B008 (frozen)
    """The admin's charge list filtered to exactly the charges behind a figure.

    `narrower` adds or overrides filters: user=, model=, status=, day= (one day).
    """
    params = {**period.query(), **filters.query()}
    day = narrower.pop("day", None)
    if day is not None:
        params.update({"from": day.isoformat(), "to": day.isoformat()})
    for name, value in narrower.items():
        params[name] = DELETED if name == "user" and value is None else value
    return _charge_list_path() + "?" + urlencode(params)


@cache
def _charge_list_path() -> str:
    return reverse("admin:conversations_charge_changelist")
