"""The usage dashboard's tables as CSV rows (usage/views.py streams them)."""

from __future__ import annotations

from conversations.models import USAGE_COLUMNS

from .reports import Figures, Report

# The figures of a row: the count of charged attempts, the usage columns (models.USAGE_COLUMNS), the failures.
FIGURE_COLUMNS = ["charged_attempts", *USAGE_COLUMNS, "failed_attempts"]


def _figure_cells(f: Figures) -> list:
    return [f.charges, *(getattr(f, name) for name in USAGE_COLUMNS), f.failed]


def csv_table(data: Report, table: str) -> tuple[list[str], list[list]]:
    """One table of the dashboard as a CSV header and rows (the figures shown, unrounded)."""
    if table == "days":
        return ["day", *FIGURE_COLUMNS], [[row.key, *_figure_cells(row.figures)] for row in data.days]
    if table == "users":
        rows = [[row.key or "", row.label, *_figure_cells(row.figures)] for row in data.users]
        return ["user_id", "user", *FIGURE_COLUMNS], rows
    if table == "models":
        return ["model", *FIGURE_COLUMNS], [[row.key, *_figure_cells(row.figures)] for row in data.models]
    if table == "statuses":
        return ["status", *FIGURE_COLUMNS], [[row.key, *_figure_cells(row.figures)] for row in data.statuses]
    if table == "matrix":
        header = ["user_id", "user", *(f"cost_usd {model}" for model in data.matrix_models), "cost_usd total"]
        rows = [
            [row.key or "", row.label, *(cost if cost is not None else 0 for cost, _ in cells), row.figures.cost_usd]
            for row, cells in data.matrix
        ]
        return header, rows
    if table == "top":
        header = [
            "created_at", "charge_id", "user", "model", "status", "attempt", "turn_id", "conversation_id",
            "response_id", "input_tokens", "output_tokens", "reasoning_tokens", "cost_usd", "provider_cost_usd",
            "duration_ms",
        ]  # fmt: skip
        rows = [
            [
                c.created_at,
                c.pk,
                c.username,
                c.model,
                c.status,
                c.attempt,
                c.turn_id,
                c.conversation_id,
                c.response_id,
                c.input_tokens,
                c.output_tokens,
                c.reasoning_tokens,
                c.cost_usd,
                c.provider_cost_usd,
                c.duration_ms,
            ]  # fmt: skip
            for c in data.top
        ]
        return header, rows
    raise ValueError(f"no table {table!r}")
