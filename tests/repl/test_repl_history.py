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


# A secret with characters URLs escape, to tell every encoding apart.
ODD_SECRET = "Zq9/x+y=k&m%3ü~7"


def _b64(text: str, urlsafe: bool = False) -> str:
    import base64

    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return encode(text.encode()).decode()


@pytest.mark.parametrize("form", [
    pytest.param(_b64(f"sa.user:{SECRET}"), id="base64(user:secret)"),
    pytest.param(_b64(f"sa.user:{SECRET}").lower(), id="base64(user:secret) lower case"),
    pytest.param(_b64(f"{SECRET}:"), id="base64(secret:) legacy Basic"),
    pytest.param(_b64(f"sa.user:{ODD_SECRET}"), id="base64(user:odd secret)"),
    pytest.param(_b64(f"sa.user:{ODD_SECRET}", urlsafe=True), id="urlsafe base64(user:odd secret)"),
    pytest.param(_b64(f"ab{ODD_SECRET}cd").rstrip("="), id="base64 unpadded, secret in the middle"),
    pytest.param("Zq9%2Fx%2By%3Dk%26m%253%C3%BC~7", id="URL-encoded"),
    pytest.param("zq9%2fx%2by%3dk%26m%253%c3%bc%7e7", id="URL-encoded lower-case hex, every escape"),
    pytest.param("ZQ9%2FX%2BY%3DK%26M%253%C3%9C~7", id="URL-encoded upper case"),
    pytest.param("Zq9/x%2By=k&m%253ü~7", id="partly URL-encoded"),
])
def test_the_configured_secret_encoded_any_way_is_sensitive(form):
    assert is_sensitive(f"SELECT * FROM read_text('http://h/?a={form}')", {SECRET, ODD_SECRET})


@pytest.mark.parametrize("text", [
    "SELECT * FROM mp_insights(NULL, current_date - 2, current_date - 1, definition := '{\"x\": \"igured-s3cr3t\"}')",
    "SELECT * FROM mp_funnel(NULL, current_date - 2, current_date - 1, steps := ['S3CR3T-VA', 'b'])",
])
def test_a_piece_of_the_configured_secret_is_sensitive(text):
    """Eight characters of it in a row, in any case, as the client masks them in errors and logs."""
    assert is_sensitive(text, {SECRET})


def test_encoded_text_without_a_configured_secret_is_kept():
    assert not is_sensitive(f"SELECT from_base64('{_b64('sa.user:other-pw')}')", {SECRET})
    assert not is_sensitive("SELECT url_decode('a%2Fb+c')", {SECRET, ODD_SECRET})


def test_a_basic_header_value_typed_at_the_prompt_never_reaches_the_file(drive, tmp_path):
    path = tmp_path / "h"
    history = SafeHistory(path, secrets=lambda: {ODD_SECRET})
    drive(f"SELECT '{_b64('sa.user:' + ODD_SECRET)}' AS b;\r"
          "SELECT 'Zq9%2fx%2By%3Dk%26m%253%C3%BC~7' AS u;\r"
          "SELECT 3 AS plain;\r", history=history)
    text = path.read_text()
    assert "SELECT 3 AS plain;" in text
    assert "AS b" not in text and "AS u" not in text


# --- the file itself: no symlinks, no special files, permissions only ever narrowed ---------------------------


def test_a_symlinked_history_file_is_refused_and_its_target_untouched(tmp_path):
    import os

    target = tmp_path / "victim"
    target.write_text("precious\n")
    target.chmod(0o644)
    link = tmp_path / "history"
    link.symlink_to(target)
    with pytest.raises(OSError, match="is a symbolic link"):
        SafeHistory(link, secrets=set)
    assert target.read_text() == "precious\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert os.path.islink(link)


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_a_history_path_that_is_not_a_regular_file_is_refused(tmp_path, kind):
    import os

    path = tmp_path / "history"
    if kind == "directory":
        path.mkdir()
    else:
        os.mkfifo(path)
    with pytest.raises(OSError):
        SafeHistory(path, secrets=set)


def test_permissions_are_narrowed_never_widened(tmp_path):
    read_only = tmp_path / "ro"
    read_only.write_text("")
    read_only.chmod(0o400)
    SafeHistory(read_only, secrets=set)
    assert stat.S_IMODE(read_only.stat().st_mode) == 0o400  # not made writable
    shared = tmp_path / "shared"
    shared.write_text("")
    shared.chmod(0o664)
    SafeHistory(shared, secrets=set)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o600


def test_a_link_swapped_in_mid_session_is_not_written_through(tmp_path):
    target = tmp_path / "victim"
    target.write_text("precious\n")
    path = tmp_path / "history"
    history = SafeHistory(path, secrets=set)
    history.store_string("SELECT 1")
    path.unlink()
    path.symlink_to(target)
    history.store_string("SELECT 2")
    assert target.read_text() == "precious\n"
    assert list(history.load_history_strings()) == []  # a link is not read either


def test_history_round_trips_multi_line_statements_newest_first(tmp_path):
    history = SafeHistory(tmp_path / "h", secrets=set)
    history.store_string("SELECT 1")
    history.store_string("SELECT\n  2")
    assert list(SafeHistory(tmp_path / "h", secrets=set).load_history_strings()) == ["SELECT\n  2", "SELECT 1"]
