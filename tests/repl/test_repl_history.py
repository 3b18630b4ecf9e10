"""The history file: 0600, and never a statement that carries a secret."""

from __future__ import annotations

import stat

import pytest

from mpsql.repl.history import SafeHistory, history_path, is_sensitive

SECRET = "configured-s3cr3t-value"


def test_secret_bearing_statements_never_reach_the_file(drive, tmp_path):
    path = tmp_path / "data" / "mpsql" / "history"
    history = SafeHistory(path, secrets=lambda: {SECRET})
    drive("SELECT 1 AS plain;\r"
          "CREATE SECRET s3 (TYPE s3, KEY_ID 'k', SECRET 'v');\r"
          f"SELECT '{SECRET}' AS oops;\r"
          "SELECT 'Kq8xZ2mNpL4vR7tY1wE3uI9oA6sD5fG0' AS looks_like_a_key;\r"
          "SET s3_secret_access_key = 'x';\r"
          "SELECT 'my password is hunter2' AS p;\r"
          "SELECT 2 AS plain;\r", history=history)
    text = path.read_text()
    assert "SELECT 1 AS plain;" in text and "SELECT 2 AS plain;" in text
    for leak in ("SECRET", SECRET, "Kq8xZ2mN", "s3_secret", "hunter2"):
        assert leak not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize("keys", ["\x1b[A\r", "\x12fir\r\r"])  # Up, Enter; Ctrl-R "fir", Enter, Enter
def test_a_later_session_recalls_and_searches_the_history(drive, tmp_path, keys):
    drive("SELECT 'first' AS x;\r", history=SafeHistory(tmp_path / "h", secrets=set))
    s = drive(keys, history=SafeHistory(tmp_path / "h", secrets=set))
    assert "│ first" in s.out


def test_an_existing_file_is_made_private(tmp_path):
    path = tmp_path / "h"
    path.write_text("")
    path.chmod(0o644)
    SafeHistory(path, secrets=set)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("text", [
    "CREATE SECRET (TYPE s3)", "create persistent secret x", "SELECT 'password'", "-- mpsql auth add prod",
    "SET api_key = 'x'", "SELECT 'token'", "SELECT '0123456789abcdef0123456789abcdef'",
])
def test_sensitive(text):
    assert is_sensitive(text)


@pytest.mark.parametrize("text", [
    "SELECT * FROM mp_export(current_date - 7, current_date - 1)",
    "SELECT '1b4e28ba-2fa1-11d2-883f-0016d3cca427' AS uuid",  # dashes: an id, not a key
    "SELECT 'abcdefghijklmnopqrstuvwxyzabcdefgh'",  # letters only
])
def test_not_sensitive(text):
    assert not is_sensitive(text)


def test_history_path(tmp_path):
    assert history_path({"MPSQL_HISTORY": str(tmp_path / "h")}) == tmp_path / "h"
    assert history_path({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "mpsql" / "history"
    assert history_path({}).parts[-4:] == (".local", "share", "mpsql", "history")


@pytest.mark.parametrize("text", [
    "SELECT 'CONFIGURED-S3CR3T-VALUE'",  # the configured secret in another case
    "SELECT from_base64('Y29uZmlndXJlZC1zM2NyM3QtdmFsdWU=')",  # ... or base64-encoded
])
def test_the_configured_secret_in_another_form_is_sensitive(text):
    assert is_sensitive(text, {SECRET})
