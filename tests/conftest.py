import pytest
from django.contrib.auth.models import User

from tests.fake_aimlapi import FakeAimlApi


@pytest.fixture
def fake_api(settings):
    """A fake AI/ML API on loopback, with the app pointed at it."""
    with FakeAimlApi(latency=0) as fake:
        settings.AIMLAPI_BASE_URL = fake.base_url
        yield fake


@pytest.fixture
def alice(db):
    return User.objects.create_user("alice", password="pw-alice-123")


@pytest.fixture
def bob(db):
    return User.objects.create_user("bob", password="pw-bob-123")


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client
