"""The Markdown export: a readable transcript of one conversation with every turn's figures.

It is not meant to be imported (the JSON export of export_json.py is).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.template.defaultfilters import filesizeformat
from django.urls import reverse

from conversations.chat import selectors
from conversations.models import Conversation, Turn

from .export_format import HISTORY_ORDER, iso_time
from .export_json import exported_turns


def _usd(value: Decimal | None) -> str:
    return "–" if value is None else f"${value:.6f}".rstrip("0").rstrip(".")


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.split("\n"))


def _turn_markdown(number: int, turn: Turn, ids: dict, tree: selectors.Tree) -> list[str]:
    lines = [f"## {number}. Prompt", "", _quote(turn.prompt), ""]
    for row in turn.attachments.all():  # the files stay in the app (the JSON export carries them)
        facts = f"{row.pages} page{'s' if row.pages != 1 else ''}, " if row.pages else ""
        name = row.name.replace("[", "\\[").replace("]", "\\]")
        lines.append(
            f"- Attached: [{name}]({reverse('attachment_file', args=[row.pk])}) ({facts}{filesizeformat(row.size)})"
        )
    if turn.attachments.all():
        lines.append("")
    notes = []
    if turn.parent_id is not None and ids.get(turn.parent_id) != number - 1:
        notes.append(f"Follows turn {ids.get(turn.parent_id)}.")
    versions = tree.versions(turn.id)
    if versions:
        others = ", ".join(str(ids[other]) for other in tree.children[turn.parent_id] if other != turn.id)
        notes.append(
            f"Version {versions.number} of {versions.count} at this place (an edit or a regeneration; "
            f"the other{'s are turns' if versions.count > 2 else ' is turn'} {others})."
        )
    if notes:
        lines += [f"*{' '.join(notes)}*", ""]
    if turn.thinking:
        # Quoted: the model's reasoning summary, set apart from its answer (a heading in it stays its text).
        lines += ["### Thinking (summary)", "", _quote(turn.thinking), ""]
    lines += [f"### Answer ({turn.get_status_display().lower()})", ""]
    if turn.output_text:
        lines += [turn.output_text, ""]
    if turn.error_message:
        lines += [f"**{turn.error_code or turn.status}:** {turn.error_message}", ""]
    details = [
        f"- Model: {turn.model or '–'}; response id: {turn.response_id or '–'}; attempts: {turn.attempts}",
        f"- Created {iso_time(turn.created_at)}, started {iso_time(turn.started_at) or '–'}, "
        f"completed {iso_time(turn.completed_at) or '–'}",
    ]
    if turn.total_tokens is not None or turn.input_tokens is not None:
        details.append(
            f"- Tokens: {turn.input_tokens or 0} in ({turn.cached_tokens or 0} cached), "
            f"{turn.output_tokens or 0} out ({turn.reasoning_tokens or 0} reasoning), {turn.total_tokens or 0} total"
        )
    if turn.cost_usd is not None or turn.provider_cost_usd is not None:
        details.append(
            f"- Cost: {_usd(turn.cost_usd)} (provider's figure: {_usd(turn.provider_cost_usd)}); "
            f"USD per 1M tokens: input {turn.input_price if turn.input_price is not None else '–'}, "
            f"cached input {turn.cached_input_price if turn.cached_input_price is not None else '–'}, "
            f"output {turn.output_price if turn.output_price is not None else '–'}"
        )
    lines += ["<details><summary>Details</summary>", "", *details]
    for entry in turn.history or []:
        # In a fixed order: PostgreSQL's jsonb does not keep the order keys were written in.
        keys = [key for key in HISTORY_ORDER if key in entry] + sorted(set(entry) - set(HISTORY_ORDER))
        summary = ", ".join(f"{key}: {entry[key]}" for key in keys if entry[key] not in (None, ""))
        lines.append(f"- Earlier attempt: {summary}")
    lines += ["", "</details>", ""]
    return lines


def export_markdown(*, conversation: Conversation, now: datetime) -> str:
    """A readable Markdown transcript with every turn's figures (the JSON export is the one to import)."""
    turns = list(exported_turns([conversation.id]))
    ids = {turn.id: number for number, turn in enumerate(turns, start=1)}
    tree = selectors.Tree((turn.id, turn.parent_id, turn.status) for turn in turns)
    lines = [
        f"# {conversation.title or 'Untitled'}",
        "",
        f"- Model: {conversation.model}",
        f"- Created: {iso_time(conversation.created_at)}; last updated: {iso_time(conversation.updated_at)}",
        f"- Exported from aimlweb: {iso_time(now)}",
    ]
    if conversation.max_output_tokens:
        lines.append(f"- Max output tokens: {conversation.max_output_tokens}")
    if conversation.reasoning_effort:
        lines.append(f"- Reasoning effort: {conversation.reasoning_effort}")
    costs = [turn.cost_usd for turn in turns if turn.cost_usd is not None]
    if costs:
        lines.append(f"- Cost of all turns: {_usd(sum(costs, Decimal(0)))}")
    lines.append("")
    if conversation.instructions:
        lines += ["## Instructions (system prompt)", "", _quote(conversation.instructions), ""]
    for number, turn in enumerate(turns, start=1):
        lines += _turn_markdown(number, turn, ids, tree)
    return "\n".join(lines)
