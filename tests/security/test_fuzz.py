"""No 500 from user input: hypothesis over every form field and query parameter (reliability.md §5
case 25), on whichever database the suite runs on (CI runs it on SQLite and PostgreSQL)."""

import uuid
from urllib.parse import quote_from_bytes

import pytest
from django.contrib.auth.models import User
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations.chat import services
from conversations.models import Turn
from tests.helpers import client_for

# Text as an attacker sends it: NUL, lone surrogates (invalid UTF-8 on the wire), controls, RTL
# marks, markup, huge numbers, very long values.
NASTY = st.one_of(
    st.text(max_size=50),
    st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs", "So"]), max_size=20),
    st.sampled_from(["\x00", "a\x00b", "%00", "' OR 1=1 --", "<script>alert(1)</script>", "\u202e", "-1", "1e309",
                     "99999999999999999999", "NaN", "../../etc/passwd", "{{ 7*7 }}", "\r\nSet-Cookie: x=1"]),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.builds(lambda n: "x" * n, st.integers(min_value=0, max_value=200_000)),
)  # fmt: skip
RAW = st.one_of(
    NASTY.map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.binary(max_size=40),  # invalid UTF-8 included
    st.just(b"\xed\xa0\x80"),  # a lone surrogate, UTF-8 encoded
)

# Every form and its fields, and the query parameters pages read.
FORMS = [
    ("/", ["prompt", "client_token"]),
    ("/c/{conversation}/", ["prompt", "client_token"]),
    ("/c/{conversation}/settings/", ["title", "model", "instructions", "max_output_tokens", "reasoning_effort"]),
    ("/c/{conversation}/rename/", ["title", "next"]),
    ("/t/{turn}/regenerate/", ["prompt", "client_token"]),
    ("/t/{turn}/retry/", []),
    ("/account/password/", ["old_password", "new_password1", "new_password2"]),
]
ANONYMOUS_FORMS = [("/signup/", ["username", "password1", "password2"]), ("/login/", ["username", "password", "next"])]
QUERIES = [
    ("/", ["q", "after", "group", "page"]),
    ("/c/{conversation}/", ["shared", "q"]),
    ("/t/{turn}/live/", ["v"]),
    ("/login/", ["next"]),
    ("/transfer/", ["q"]),
]


def _body(fields: dict[str, bytes]) -> bytes:
    return b"&".join(
        quote_from_bytes(k.encode()).encode() + b"=" + quote_from_bytes(v).encode() for k, v in fields.items()
    )


@pytest.fixture
def site(db):
    user = User.objects.create_user("fuzz", password="pw-fuzz-12345")
    turn = services.conversation_create(owner=user, prompt="a question")
    Turn.objects.filter(id=turn.id).update(status="completed", output_text="an answer")
    client = client_for(user)
    return {"client": client, "ids": {"conversation": turn.conversation_id, "turn": turn.id}}


def _check(response, what):
    assert response.status_code < 500, (what, response.status_code)


FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(data=st.data())
def test_forms_never_answer_500(site, data):
    for path, fields in FORMS:
        url = path.format(**site["ids"])
        values = {name: data.draw(RAW, label=name) for name in fields}
        if data.draw(st.booleans(), label="extra field"):
            values[data.draw(st.text(min_size=1, max_size=10), label="extra name")] = data.draw(RAW)
        response = site["client"].post(url, _body(values), content_type="application/x-www-form-urlencoded")
        _check(response, url)


@FUZZ
@given(data=st.data())
def test_anonymous_forms_never_answer_500(db, data):
    for url, fields in ANONYMOUS_FORMS:
        values = {name: data.draw(RAW, label=name) for name in fields}
        response = Client().post(url, _body(values), content_type="application/x-www-form-urlencoded")
        _check(response, url)


@FUZZ
@given(data=st.data())
def test_query_parameters_never_answer_500(site, data):
    for path, params in QUERIES:
        url = path.format(**site["ids"])
        query = _body({name: data.draw(RAW, label=name) for name in params})
        response = site["client"].get(f"{url}?{query.decode()}")
        _check(response, url)


def test_a_nul_byte_in_the_search_is_no_500(site):
    """Today's PostgreSQL 500: the search query would carry the NUL into SQL."""
    for query in ("%00", "a%00b", "%00%00%00"):
        for url in (f"/?q={query}", f"/search/?q={query}"):
            response = site["client"].get(url, follow=True)
            assert response.status_code in (200, 404), url  # 404: no search page (yet) at that address


def test_a_nul_byte_in_a_prompt_is_refused_with_a_message(site):
    response = site["client"].post("/", {"prompt": "hello\x00world", "client_token": str(uuid.uuid4())})
    assert response.status_code in (200, 400)
    assert "Null characters are not allowed" in response.content.decode()
    assert Turn.objects.count() == 1


def test_a_3_mb_prompt_is_a_400_not_a_500(site):
    response = site["client"].post("/", {"prompt": "x" * 3_000_000, "client_token": str(uuid.uuid4())})
    assert response.status_code in (400, 413)
    assert Turn.objects.count() == 1


def test_a_prompt_over_the_limit_is_refused_and_kept(site, settings):
    settings.MAX_PROMPT_CHARS = 1000
    response = site["client"].post("/", {"prompt": "y" * 1001, "client_token": str(uuid.uuid4())})
    assert response.status_code in (200, 400)
    assert "over the limit of 1,000" in response.content.decode()
    assert "y" * 1001 in response.content.decode()
    assert Turn.objects.count() == 1
