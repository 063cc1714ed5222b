"""Reads of the notices: whether a page showed an answer when it ended, and where a turn is.

The rule ("none of the user's pages was showing it"): a page shows a turn while the turn is on it,
running, and the page follows it, by its `/events/` stream (the turn is in the stream's list) or by
polling `/t/<id>/live/`. Each of those touches the turn's `TurnSeen` row (services.turns_seen_record):
the streams of a web process every SEEN_TOUCH_SECONDS, all at once (live/changes.py), a poll at most
every SEEN_TOUCH_SECONDS per turn and process. An answer counts as shown when a touch came less than
`shown_window()` before it ended, or after (a page opened meanwhile, a last poll). A tab closed, a
page of another conversation, or a hidden tab the browser stopped polling show nothing: the answer is
emailed. A hidden tab whose stream stays open, or whose polls go on, counts as showing it (it still
tells of the arrival: title, notification).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from conversations.models import Turn, TurnSeen

# How often an open page's touch is written (the streams of a process together, or a polled turn).
SEEN_TOUCH_SECONDS = 5.0
# At least this long before its end, a page last touched an answer it showed (touch interval, a hidden
# tab's slower polls, a little clock difference between the web and worker machines).
SHOWN_WINDOW_SECONDS = 15.0


def shown_window() -> timedelta:
    hidden_poll = settings.LIVE_POLL_HIDDEN_MS / 1000
    return timedelta(seconds=max(SHOWN_WINDOW_SECONDS, SEEN_TOUCH_SECONDS + hidden_poll + 5))


def turn_shown(*, turn: Turn) -> bool:
    """Whether a page of the owner showed `turn` when it ended (the rule above)."""
    ended = turn.completed_at or timezone.now()
    return TurnSeen.objects.filter(turn_id=turn.pk, seen_at__gte=ended - shown_window()).exists()


def turn_link(turn: Turn) -> str:
    """The turn on its conversation's page (that version's path, scrolled to it): a path, without the site."""
    return f"{turn.conversation.get_absolute_url()}?turn={turn.pk}#turn-{turn.pk}"
