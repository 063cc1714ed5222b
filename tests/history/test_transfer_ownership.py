"""Export, import and share URLs check the owner: another user's ids are 404, anonymous requests sign in."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from conversations.history import services
from conversations.models import Conversation, Share
from tests import factories
from tests.helpers import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def alices(alice):
    conversation = factories.conversation(owner=alice, title="Alice's secret")
    factories.turn(conversation=conversation, prompt="secret prompt", status="completed", output_text="secret")
    live = services.share_create(conversation=conversation)
    revoked = services.share_create(conversation=conversation)
    services.share_revoke(share=revoked)
    return {"conversation": conversation, "share": live, "revoked": revoked}


def urls(alices) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Every URL of this feature that names one of alice's objects, with the methods it answers."""
    conversation_id = alices["conversation"].id
    return {
        "export markdown": (reverse("conversation_export_markdown", args=[conversation_id]), ("get",)),
        "export json": (reverse("conversation_export_json", args=[conversation_id]), ("get",)),
        "share create": (reverse("share_create", args=[conversation_id]), ("post",)),
        "share revoke": (reverse("share_revoke", args=[alices["share"].token]), ("post",)),
        "revoked share revoke": (reverse("share_revoke", args=[alices["revoked"].token]), ("post",)),
        "revoked share page": (reverse("share", args=[alices["revoked"].token]), ("get",)),
    }


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
def test_another_users_ids_are_404_for_every_method(alices, bob, method):
    bob_client = client_for(bob)
    for name, (url, _methods) in urls(alices).items():
        response = getattr(bob_client, method)(url)
        assert response.status_code in (404, 405), f"{name} {method}: {response.status_code}"
        if method in _methods:
            assert response.status_code == 404, f"{name} {method}: {response.status_code}"
        assert b"secret" not in response.content
    assert Share.objects.filter(revoked_at__isnull=True).count() == 1
    assert Share.objects.count() == 2


def test_anonymous_requests_are_sent_to_sign_in(alices, client):
    names = [reverse("transfer"), reverse("export_all"), reverse("import_upload"), reverse("share", args=["x"])]
    for url, methods in [*urls(alices).values(), *[(url, ("get", "post")) for url in names]]:
        for method in methods:
            response = getattr(client, method)(url)
            assert response.status_code == 302, f"{method} {url}"
            assert response["Location"].startswith("/login/?next="), f"{method} {url}"


def test_export_all_and_import_only_ever_touch_the_signed_in_user(alices, alice, bob):
    bob_client = client_for(bob)
    data = json.loads(b"".join(bob_client.get(reverse("export_all")).streaming_content))
    assert data["conversations"] == []
    export = client_for(alice).get(reverse("conversation_export_json", args=[alices["conversation"].id])).content
    bob_client.post(reverse("import_upload"), {"file": SimpleUploadedFile("a.json", export)})
    copy = Conversation.objects.get(owner=bob)
    assert copy.origin_id == alices["conversation"].id
    assert Conversation.objects.filter(owner=alice).count() == 1
    assert alices["conversation"].turns.count() == 1
