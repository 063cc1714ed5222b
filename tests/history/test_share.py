"""Read-only share links to a snapshot of a conversation."""

import re
from decimal import Decimal

import pytest

from conversations.chat import services
from conversations.models import Conversation, Share, Turn
from tests import factories
from tests.helpers import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(alice):
    conversation = factories.conversation(owner=alice, title="Launch <plan>")
    factories.turn(
        conversation=conversation,
        prompt="First try",
        status="completed",
        output_text="Old answer",
        output_html="<p>Old answer</p>",
        parent=None,
    )
    # Another version of the first prompt (an edit), with a turn still running after it.
    new = factories.turn(
        conversation=conversation,
        parent=None,
        prompt="<script>alert('prompt')</script> What next?",
        status="completed",
        output_text="**Ship it**",
        output_html="<p><strong>Ship it</strong></p>",
        input_tokens=1234,
        output_tokens=5678,
        total_tokens=6912,
        cost_usd=Decimal("0.962612"),
    )
    factories.turn(conversation=conversation, prompt="Still thinking about this one", status="in_progress", parent=new)
    return conversation


def create_share(client, conversation, **data) -> Share:
    response = client.post(f"/c/{conversation.id}/share/", data)
    assert response.status_code == 302
    share = Share.objects.latest("id")
    assert response["Location"] == f"/c/{conversation.id}/?shared={share.token}"
    return share


def test_owner_creates_a_link_to_a_snapshot(alice, conversation):
    share = create_share(client_for(alice), conversation)
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", share.token)
    assert (share.owner, share.conversation, share.title, share.show_cost) == (
        alice,
        conversation,
        "Launch <plan>",
        False,
    )
    # The version on screen only; answers still being written are not in it.
    assert [item["prompt"][:9] for item in share.snapshot] == ["<script>a"]
    assert "cost_usd" not in share.snapshot[0] and "input_tokens" not in share.snapshot[0]
    # Switched to the other version, a new link shows that one.
    services.turn_show(turn=conversation.turns.get(prompt="First try"))
    conversation.refresh_from_db()
    assert [item["answer_html"] for item in create_share(client_for(alice), conversation).snapshot] == [
        "<p>Old answer</p>"
    ]


def test_another_signed_in_user_reads_it_without_composer_or_cost(alice, bob, conversation):
    share = create_share(client_for(alice), conversation)
    response = client_for(bob).get(f"/s/{share.token}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "<strong>Ship it</strong>" in page
    assert "&lt;script&gt;alert(&#x27;prompt&#x27;)&lt;/script&gt; What next?" in page
    assert "<script>alert" not in page
    assert "Launch &lt;plan&gt;" in page and "Shared by alice" in page
    assert "Old answer" not in page  # the other version was not on screen
    assert 'id="composer"' not in page and "<textarea" not in page and 'method="post"' not in page
    assert "$0.9626" not in page and "6,912" not in page
    assert "Still thinking" not in page


def test_cost_is_shown_when_the_owner_chose_it(alice, bob, conversation):
    share = create_share(client_for(alice), conversation, show_cost="on")
    assert share.show_cost and share.snapshot[0]["cost_usd"] == "0.962612"
    page = client_for(bob).get(f"/s/{share.token}/").content.decode()
    assert "$0.9626" in page and "6,912 total" in page


def test_the_models_thinking_is_shared_only_when_the_owner_chose_it(alice, bob, conversation):
    Turn.objects.filter(prompt__endswith="What next?").update(thinking="**Weighing it** <b>ship</b> or wait")
    alice_client = client_for(alice)
    menu = alice_client.get(f"/c/{conversation.id}/").content.decode()
    assert '<input type="checkbox" name="show_thinking" id="share-show-thinking">' in menu  # offered, off
    without = create_share(alice_client, conversation)
    assert not without.show_thinking and "thinking" not in without.snapshot[0]
    page = client_for(bob).get(f"/s/{without.token}/").content.decode()
    assert "Weighing it" not in page and 'class="thinking"' not in page
    chosen = create_share(alice_client, conversation, show_thinking="on")
    assert chosen.show_thinking and chosen.snapshot[0]["thinking"] == "**Weighing it** <b>ship</b> or wait"
    page = client_for(bob).get(f"/s/{chosen.token}/").content.decode()
    # Collapsed, as text (never markup), beside the answer.
    assert '<details class="thinking">' in page
    assert "<strong>Weighing it</strong> &lt;b&gt;ship&lt;/b&gt; or wait" in page and "<b>ship" not in page
    assert "shows thinking" in alice_client.get(f"/c/{conversation.id}/?shared={chosen.token}").content.decode()


def test_the_snapshot_does_not_change_with_the_conversation(alice, bob, conversation):
    share = create_share(client_for(alice), conversation)
    Turn.objects.filter(conversation=conversation, status="in_progress").update(
        status="completed", output_text="Late", output_html="<p>Late answer arrived</p>"
    )
    services.conversation_update(conversation=conversation, title="Renamed")
    page = client_for(bob).get(f"/s/{share.token}/").content.decode()
    assert "Late answer arrived" not in page and "Renamed" not in page


def test_a_link_made_before_versions_still_shows_its_earlier_versions(alice, bob, conversation):
    # Snapshots taken before versions (migration 0010) kept replaced turns, marked "superseded".
    old = {"prompt": "First try", "answer_html": "<p>Old answer</p>", "answer_text": "", "status": "completed"}
    new = {"prompt": "Again", "answer_html": "<p>New answer</p>", "answer_text": "", "status": "completed"}
    share = Share.objects.create(
        token="x" * 32, conversation=conversation, owner=alice, title="Before",
        snapshot=[{**old, "superseded": True}, {**new, "superseded": False}],
    )  # fmt: skip
    page = client_for(bob).get(f"/s/{share.token}/").content.decode()
    assert '<details class="superseded-turn">' in page and "Earlier version of this answer" in page
    assert "New answer" in page


def test_revoked_and_unknown_links_are_404(alice, bob, conversation):
    alice_client = client_for(alice)
    share = create_share(alice_client, conversation)
    response = alice_client.post(f"/s/{share.token}/revoke/")
    assert response.status_code == 302 and response["Location"] == f"/c/{conversation.id}/?shared="
    share.refresh_from_db()
    assert share.revoked_at is not None
    assert client_for(bob).get(f"/s/{share.token}/").status_code == 404
    assert alice_client.get(f"/s/{share.token}/").status_code == 404
    assert alice_client.post(f"/s/{share.token}/revoke/").status_code == 404
    assert client_for(bob).get("/s/not-a-token/").status_code == 404


def test_deleting_the_conversation_ends_its_links(alice, bob, conversation):
    share = create_share(client_for(alice), conversation)
    services.conversation_delete(conversation=conversation)
    assert not Share.objects.filter(pk=share.pk).exists()
    assert client_for(bob).get(f"/s/{share.token}/").status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in(alice, client, conversation):
    share = create_share(client_for(alice), conversation)
    response = client.get(f"/s/{share.token}/")
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next=/s/{share.token}/"


def test_only_the_owner_can_share_or_revoke(alice, bob, conversation):
    share = create_share(client_for(alice), conversation)
    bob_client = client_for(bob)
    assert bob_client.post(f"/c/{conversation.id}/share/").status_code == 404
    assert bob_client.post(f"/s/{share.token}/revoke/").status_code == 404
    share.refresh_from_db()
    assert share.revoked_at is None
    assert Share.objects.count() == 1


def test_the_owner_sees_live_links_in_the_share_menu(alice, conversation):
    alice_client = client_for(alice)
    kept = create_share(alice_client, conversation, show_cost="on")
    revoked = create_share(alice_client, conversation)
    alice_client.post(f"/s/{revoked.token}/revoke/")
    page = alice_client.get(f"/c/{conversation.id}/?shared={kept.token}").content.decode()
    assert f"http://testserver/s/{kept.token}/" in page
    assert revoked.token not in page
    assert 'id="share-menu" open' in page and "share-item share-new" in page and "shows cost" in page
    closed = alice_client.get(f"/c/{conversation.id}/").content.decode()
    assert 'id="share-menu" open' not in closed


def test_share_and_revoke_need_post(alice, conversation):
    alice_client = client_for(alice)
    assert alice_client.get(f"/c/{conversation.id}/share/").status_code == 405
    share = create_share(alice_client, conversation)
    assert alice_client.get(f"/s/{share.token}/revoke/").status_code == 405


def test_share_pages_ask_search_engines_not_to_index_them(alice, bob, conversation):
    """Issue 15 item 10: a header and a meta tag, both."""
    share = create_share(client_for(alice), conversation)
    page = client_for(bob).get(f"/s/{share.token}/")
    assert page.status_code == 200
    assert "noindex" in page["X-Robots-Tag"]
    assert re.search(r'<meta name="robots" content="[^"]*noindex', page.content.decode())


def _edited_first_prompt(alice) -> Conversation:
    """A conversation titled from its first prompt, whose first prompt was then edited (a new version)."""
    first = services.conversation_create(owner=alice, prompt="My salary is 91,000 and my boss is Bob")
    conversation = first.conversation
    edit = factories.turn(
        conversation=conversation, parent=None, prompt="Help me ask for a raise", status="completed", output_text="Ok."
    )
    Conversation.objects.filter(pk=conversation.pk).update(current_turn=edit)
    conversation.refresh_from_db()
    return conversation


def test_a_share_is_titled_from_the_shared_path_not_an_edited_prompt(alice, bob, fake_api):
    """Issue 15 item 10: the automatic title of an edited first prompt showed its original wording."""
    conversation = _edited_first_prompt(alice)
    assert "salary" in conversation.title
    share = create_share(client_for(alice), conversation)
    assert share.title == "Help me ask for a raise"
    page = client_for(bob).get(f"/s/{share.token}/").content.decode()
    assert "salary" not in page and "91,000" not in page


def test_a_renamed_conversation_shares_its_new_name(alice, fake_api):
    conversation = _edited_first_prompt(alice)
    Conversation.objects.filter(pk=conversation.pk).update(title="Raise prep")
    conversation.refresh_from_db()
    assert create_share(client_for(alice), conversation).title == "Raise prep"
