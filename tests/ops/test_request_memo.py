"""aimlweb/request_memo.py: reference data read once per request, afresh outside one."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from aimlweb.request_memo import RequestMemoMiddleware
from conversations.models import AIModel
from conversations.usage import catalog
from tests.helpers import client_for

pytestmark = pytest.mark.django_db


def catalogue_reads(queries) -> int:
    """SELECTs of catalogue rows (the catalogue is read whole: usage/catalog.catalogue)."""
    return sum(1 for q in queries if q["sql"].startswith("SELECT") and 'FROM "conversations_aimodel"' in q["sql"])


def test_a_conversation_page_reads_its_models_row_once(alice):
    from tests import factories

    conversation = factories.conversation(owner=alice, title="One", model="openai/gpt-5-pro")
    factories.turn(conversation=conversation, prompt="Why?", status="completed", output_text="Because.")
    client = client_for(alice)
    with CaptureQueriesContext(connection) as page:
        assert client.get(conversation.get_absolute_url()).status_code == 200
    # The composer, the settings form, the successor offer, the files it takes and the estimate
    # each asked for it: five queries before; then two (its row, and the enabled models for the form).
    assert catalogue_reads(page.captured_queries) == 1


def test_outside_a_request_each_read_is_fresh():
    with CaptureQueriesContext(connection) as reads:
        first = catalog.model_get("openai/gpt-5-pro")
        AIModel.objects.filter(provider_id="openai/gpt-5-pro").update(label="Renamed")
        second = catalog.model_get("openai/gpt-5-pro")
    assert catalogue_reads(reads.captured_queries) == 2
    assert first.label != "Renamed" and second.label == "Renamed"


def test_each_request_has_its_own_memo_and_leaves_none_behind(rf):
    seen = []

    def view(request):
        seen.append(catalog.model_get("openai/gpt-5-pro").label)
        AIModel.objects.filter(provider_id="openai/gpt-5-pro").update(label=f"Label {len(seen)}")
        seen.append(catalog.model_get("openai/gpt-5-pro").label)  # the same request: the memo
        return None

    middleware = RequestMemoMiddleware(view)
    middleware(rf.get("/"))
    middleware(rf.get("/"))  # a new request reads afresh
    assert seen[0] == seen[1] and seen[2] == seen[3] == "Label 1"
    assert catalog.model_get("openai/gpt-5-pro").label == "Label 3"  # and after it, no memo
