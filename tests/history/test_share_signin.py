"""A share link opened signed out: the sign-in page names what is shared and by whom, and both ways in
(sign in, sign up) come back to the share."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from conversations.history.services import share_create, share_revoke
from tests import factories

PASSWORD = "a-Long-pass-77"


@pytest.fixture
def share(db):
    alice = factories.user("alice")
    talk = factories.conversation(alice, title="Billing <migration>")
    return share_create(conversation=talk)


def test_the_sign_in_page_names_the_share_and_signs_in_back_to_it(client, share):
    url = f"/s/{share.token}/"
    response = client.get(url, follow=True)
    assert response.redirect_chain == [(f"/login/?next={url}", 302)]
    page = response.content.decode()
    assert "<strong>alice</strong> shared “Billing &lt;migration&gt;” with the people of this site" in page
    assert f'href="/signup/?next={url}"' in page
    assert "Welcome back" not in page
    factories.user("bob", password=PASSWORD)
    signed_in = client.post("/login/", {"username": "bob", "password": PASSWORD, "next": url})
    assert signed_in.status_code == 302 and signed_in.url == url
    assert client.get(url).status_code == 200


def test_signing_up_from_a_share_link_comes_back_to_it(client, share, settings):
    settings.SIGNUP = "open"
    url = f"/s/{share.token}/"
    form = client.get(f"/signup/?next={url}").content.decode()
    assert f'href="/login/?next={url}"' in form  # "Already have an account?" keeps it too
    data = {"username": "carl", "password1": PASSWORD, "password2": PASSWORD}
    response = client.post(f"/signup/?next={url}", data)
    assert response.status_code == 302 and response.url == url
    assert User.objects.get(username="carl").is_active
    # Another site's address is not followed.
    other = Client().post("/signup/?next=https://evil.example/", {**data, "username": "dora"})
    assert other.status_code == 302 and other.url == "/"


def test_a_revoked_or_unknown_share_is_not_named(client, share):
    share_revoke(share=share)
    for token in (share.token, "not-a-token"):
        page = client.get(f"/login/?next=/s/{token}/").content.decode()
        assert "shared" not in page.split("<main", 1)[1] and "Welcome back" in page
    page = client.get("/login/?next=/usage/").content.decode()
    assert "Welcome back" in page
