"""The real Huey consumer in a subprocess: turns complete, and survive a killed worker."""

import pytest

from conversations import services
from conversations.models import Turn
from tests.conftest import wait_for

pytestmark = pytest.mark.slow


def _status(turn):
    return Turn.objects.values_list("status", flat=True).get(id=turn.id)


def test_a_consumer_process_completes_a_turn(worker, alice, fake_api):
    worker()
    turn = services.conversation_create(owner=alice, prompt="Through a real worker")
    wait_for(lambda: _status(turn) == "completed")
    turn.refresh_from_db()
    assert turn.output_text.startswith("Echo: Through a real worker")
    assert turn.total_tokens and turn.response_id
    assert fake_api.post_count == 1
