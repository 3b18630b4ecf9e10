"""MixpanelClient.redact: no spelling of the secret survives, in any case, cut anywhere."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import httpx
import pytest

from mpsql.api.client import MixpanelClient
from mpsql.api.retry import RetryPolicy
from mpsql.config import Account, Secret
from mpsql.errors import MixpanelError, QueryError

SECRET = "Zq9/Sekrit+Value=7f3a"  # has characters that URL-encoding and base64 change
USER = "sa.probe"
PAIR = f"{USER}:{SECRET}"
_MIN = 4  # the shortest trailing piece of the secret that is masked


@pytest.fixture
def client():
    c = MixpanelClient(Account("probe", USER, Secret(SECRET), 7, source="test"), retry=RetryPolicy(max_attempts=1))
    yield c
    c.close()


@pytest.mark.parametrize("echo", [
    pytest.param(SECRET, id="plain"),
    pytest.param(SECRET.upper(), id="upper-case"),
    pytest.param(SECRET.lower(), id="lower-case"),
    pytest.param(quote(SECRET, safe=""), id="url-encoded"),
    pytest.param(quote(SECRET, safe="").lower(), id="url-encoded-lower-case"),
    pytest.param(SECRET.replace("/", "\\/"), id="json-escaped-slash"),  # as PHP and Go's encoders write it
    pytest.param(PAIR, id="user-colon-secret"),
    pytest.param(base64.b64encode(PAIR.encode()).decode(), id="base64-of-pair"),
    pytest.param(base64.b64encode(PAIR.encode()).decode().rstrip("="), id="base64-of-pair-unpadded"),
    pytest.param(base64.urlsafe_b64encode(PAIR.encode()).decode(), id="urlsafe-base64-of-pair"),
    pytest.param(base64.b64encode(SECRET.encode()).decode(), id="base64-of-secret"),
])
def test_every_spelling_of_the_secret_is_masked(client, echo):
    text = client.redact(f"before {echo} after")
    assert text == "before *** after"


def test_the_form_encoded_secret_is_masked(client):
    from urllib.parse import quote_plus

    assert client.redact(f"x={quote_plus(SECRET)}&y=1") == "x=***&y=1"


def test_a_cut_after_redaction_never_leaves_a_prefix_of_the_secret(client):
    text = "a" * 1990 + SECRET + "tail"
    for limit in range(1985, 2020):
        out = client.redact(text, limit)
        assert len(out) <= limit + 3
        assert SECRET[:_MIN] not in out
        assert out.startswith("a" * min(limit, 1990)) or out.endswith("***")


@pytest.mark.parametrize("cut", range(4, len(SECRET)))
def test_a_text_ending_inside_the_secret_has_that_end_masked(client, cut):
    assert client.redact("error near " + SECRET[:cut]) == "error near ***"
    assert client.redact("error near " + SECRET[:cut].upper()) == "error near ***"


def test_text_without_the_secret_is_unchanged(client):
    text = "Mixpanel said: unknown parameter 'where' (2024-03-04)"
    assert client.redact(text) == text
    assert client.redact(text, 10) == text[:10]


def test_an_error_body_echoing_the_secret_at_the_cut_keeps_no_part_of_it():
    # A 400 body long enough that the old order (cut to 2000, then redact) left 15 characters of the secret.
    body = json.dumps({"request": "/segmentation", "pad": "p" * (2000 - 47) + SECRET, "error": "bad"})

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, content=body.encode())

    c = MixpanelClient(Account("probe", USER, Secret(SECRET), 7, source="test"),
                       retry=RetryPolicy(max_attempts=1), transport=httpx.MockTransport(answer))
    with pytest.raises(QueryError) as info:
        c.fetch_json("query", "/segmentation", {"event": "x"})
    c.close()
    err: MixpanelError = info.value
    for part in (str(err), err.body, err.message):
        assert SECRET[:_MIN].lower() not in part.lower()


def test_a_run_of_eight_characters_of_the_secret_is_masked_wherever_it_stands(client):
    assert client.redact('{"error":"unknown token ' + SECRET[:-3] + '"}') == '{"error":"unknown token ***"}'
    assert client.redact("token=" + SECRET[5:].lower() + ";") == "token=***;"
    assert client.redact("seven " + SECRET[2:9] + " chars") == "seven " + SECRET[2:9] + " chars"


def test_a_text_ending_with_the_user_name_is_not_masked(client):
    # The user name is no secret: only a trailing piece reaching into the secret itself is masked.
    assert client.redact(f"Unable to authenticate {USER}") == f"Unable to authenticate {USER}"
    assert client.redact(f"Unable to authenticate {USER}:") == f"Unable to authenticate {USER}:"
    assert client.redact(f"auth {USER}:{SECRET[:6]}") == "auth ***"  # the pair, cut inside the secret
    header = base64.b64encode(PAIR.encode()).decode()
    assert client.redact("Basic " + header[:30]) == "Basic ***"
