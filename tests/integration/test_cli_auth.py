"""``mpsql auth``: add / list / remove / default / test, end to end against a local /api/app/me."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from mpsql.cli import auth
from mpsql.config import Account, ConfigStore, Secret

SECRET = "sa-secret-5d2e8b1f"
LEGACY_SECRET = "legacy-secret-90ac11"
PROJECT_ID = 12345


# --- a tiny /api/app/me ------------------------------------------------------------------------------------


class _MeHandler(BaseHTTPRequestHandler):
    valid: ClassVar[set[tuple[str, str]]] = {("sa.user", SECRET), (LEGACY_SECRET, "")}
    seen: ClassVar[list[tuple[str, str]]]

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization", "")))
        if self.path != "/api/app/me":
            return self._reply(404, {"status": "error", "error": "not found"})
        creds = None
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            creds = (user, password)
        if creds not in self.valid:
            return self._reply(401, {"status": "error", "error": "Invalid username or secret"})
        self._reply(200, {"status": "ok", "results": {
            "user_id": 7, "user_name": "Test Robot", "user_email": "robot@example.com",
            "projects": {str(PROJECT_ID): {"name": "Demo Project"}},
        }})

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def me_server() -> Iterator[tuple[str, list]]:
    seen: list[tuple[str, str]] = []
    handler = type("Handler", (_MeHandler,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


# --- helpers -----------------------------------------------------------------------------------------------


@pytest.fixture
def cfg_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in list(os.environ):
        if key.startswith("MP_"):
            monkeypatch.delenv(key)
    path = tmp_path / "mp" / "config.toml"
    monkeypatch.setenv("MP_CONFIG_PATH", str(path))
    return path


def run(argv: list[str], capsys, monkeypatch, stdin: str = "") -> tuple[int, str, str]:
    """Call auth.main in-process with ``stdin`` piped (not a terminal)."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = auth.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def add_sa(capsys, monkeypatch, name="prod", api_url=None, secret=SECRET, *extra):
    argv = ["add", name, "--username", "sa.user", "--project-id", str(PROJECT_ID), *extra]
    if api_url:
        argv += ["--api-url", api_url]
    code, _, err = run(argv, capsys, monkeypatch, stdin=secret + "\n")
    assert code == 0, err


# --- add ---------------------------------------------------------------------------------------------------


def test_add_reads_secret_from_stdin_subprocess(cfg_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MP_")}
    env["MP_CONFIG_PATH"] = str(cfg_path)
    proc = subprocess.run(
        [sys.executable, "-m", "mpsql.cli.auth", "add", "prod", "--username", "sa.user",
         "--project-id", str(PROJECT_ID), "--region", "eu"],
        input=f"  {SECRET}  \n", capture_output=True, text=True, env=env, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    assert "added account 'prod'" in proc.stderr
    assert stat.S_IMODE(cfg_path.stat().st_mode) == 0o600
    account = ConfigStore(cfg_path).get("prod")
    assert account.secret.reveal() == SECRET  # stripped
    assert (account.username, account.project_id, account.region) == ("sa.user", PROJECT_ID, "eu")
    assert ConfigStore(cfg_path).default_name() == "prod"


def test_add_uses_hidden_prompt_on_a_terminal(cfg_path, capsys, monkeypatch):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    prompts = []
    monkeypatch.setattr(sys, "stdin", Tty(""))
    monkeypatch.setattr(auth.getpass, "getpass", lambda prompt: prompts.append(prompt) or SECRET)
    assert auth.main(["add", "prod", "-u", "sa.user", "-p", "5"]) == 0
    assert prompts and "'prod'" in prompts[0]
    assert ConfigStore(cfg_path).get("prod").secret.reveal() == SECRET
    assert SECRET not in "".join(capsys.readouterr())


def test_add_legacy_and_default_flag(cfg_path, capsys, monkeypatch):
    add_sa(capsys, monkeypatch)
    code, _, err = run(["add", "old", "--legacy", "--region", "in", "--default"], capsys, monkeypatch,
                       stdin=LEGACY_SECRET + "\n")
    assert code == 0, err
    assert "deprecated" in err
    store = ConfigStore(cfg_path)
    assert store.default_name() == "old"
    old = store.get("old")
    assert old.is_legacy and old.region == "in" and old.project_id is None
    assert store.get("prod").secret.reveal() == SECRET  # the other account is kept


def test_second_account_does_not_take_default(cfg_path, capsys, monkeypatch):
    add_sa(capsys, monkeypatch, "a")
    add_sa(capsys, monkeypatch, "b")
    assert ConfigStore(cfg_path).default_name() == "a"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["add", "x"], "--legacy"),
        (["add", "x", "--username", "u"], "--project-id is required"),
        (["add", "x", "--username", "u", "--legacy", "-p", "1"], "not allowed with"),
        (["add", "x", "--legacy", "--region", "asia"], "invalid choice"),
        (["add", "x", "-u", "u", "-p", "0"], "positive integer"),
        (["add", "x", "--legacy", "--secret", SECRET], "unrecognized arguments"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_usage_errors_exit_2(cfg_path, capsys, monkeypatch, argv, needle):
    code, out, err = run(argv, capsys, monkeypatch, stdin=SECRET + "\n")
    assert code == 2
    assert needle in err
    assert out == ""
    assert not cfg_path.exists()


def test_add_with_empty_stdin_fails(cfg_path, capsys, monkeypatch):
    code, _, err = run(["add", "x", "--legacy"], capsys, monkeypatch, stdin="")
    assert code == 1
    assert "no secret given" in err
    assert not cfg_path.exists()


def test_add_bad_api_url_fails_without_writing(cfg_path, capsys, monkeypatch):
    code, _, err = run(["add", "x", "--legacy", "--api-url", "nope"], capsys, monkeypatch, stdin="s\n")
    assert code == 1 and "api_url must be an http:// or https:// URL" in err
    assert not cfg_path.exists()


# --- list / remove / default -------------------------------------------------------------------------------


def test_list_never_shows_secrets(cfg_path, capsys, monkeypatch):
    add_sa(capsys, monkeypatch, "prod", "http://127.0.0.1:8123")
    run(["add", "old", "--legacy"], capsys, monkeypatch, stdin=LEGACY_SECRET + "\n")
    code, out, err = run(["list"], capsys, monkeypatch)
    assert code == 0
    assert SECRET not in out + err and LEGACY_SECRET not in out + err
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "USERNAME", "PROJECT_ID", "REGION", "API_URL"]
    assert lines[1].split() == ["*", "prod", "sa.user", str(PROJECT_ID), "us", "http://127.0.0.1:8123"]
    assert lines[2].split() == ["old", "(project", "secret)", "us"]

    code, out, err = run(["list", "--format", "json"], capsys, monkeypatch)
    assert code == 0
    assert SECRET not in out and LEGACY_SECRET not in out
    doc = json.loads(out)
    assert doc["default"] == "prod"
    assert [a["name"] for a in doc["accounts"]] == ["prod", "old"]
    assert doc["accounts"][1]["legacy"] is True
    assert all("secret" not in a for a in doc["accounts"])


def test_list_empty(cfg_path, capsys, monkeypatch):
    code, out, err = run(["list"], capsys, monkeypatch)
    assert code == 0 and out == "" and "no accounts" in err


def test_list_notes_env_override(cfg_path, capsys, monkeypatch):
    add_sa(capsys, monkeypatch)
    monkeypatch.setenv("MP_SECRET", "whatever")
    code, out, err = run(["list"], capsys, monkeypatch)
    assert code == 0 and "MP_SECRET is set" in err and "whatever" not in out + err


def test_remove_and_default(cfg_path, capsys, monkeypatch):
    for name in ("a", "b", "c"):
        add_sa(capsys, monkeypatch, name)
    code, _, err = run(["default", "b"], capsys, monkeypatch)
    assert code == 0 and "'b' is now the default" in err
    code, out, _ = run(["default"], capsys, monkeypatch)
    assert (code, out) == (0, "b\n")
    code, _, err = run(["remove", "b"], capsys, monkeypatch)
    assert code == 0 and "removed account 'b'" in err and "no default account now" in err
    assert ConfigStore(cfg_path).names() == ["a", "c"]
    code, _, err = run(["remove", "zzz"], capsys, monkeypatch)
    assert code == 1 and "no account named 'zzz'" in err and "configured accounts: a, c" in err
    code, _, err = run(["default", "zzz"], capsys, monkeypatch)
    assert code == 1 and "configured accounts: a, c" in err


def test_refuses_world_readable_config(cfg_path, capsys, monkeypatch):
    add_sa(capsys, monkeypatch)
    os.chmod(cfg_path, 0o644)
    code, out, err = run(["list"], capsys, monkeypatch)
    assert code == 1 and f"chmod 600 {cfg_path}" in err and out == ""


# --- test --------------------------------------------------------------------------------------------------


def test_auth_test_ok(cfg_path, capsys, monkeypatch, me_server):
    url, seen = me_server
    add_sa(capsys, monkeypatch, "prod", url)
    code, out, err = run(["test", "prod"], capsys, monkeypatch)
    assert code == 0, err
    assert out.startswith(f"OK: account 'prod' authenticated at {url}")
    assert "Test Robot" in out and "robot@example.com" in out
    assert f"project {PROJECT_ID}: Demo Project" in out
    assert SECRET not in out + err
    assert seen[-1][0] == "/api/app/me"


def test_auth_test_default_account_and_wrong_secret(cfg_path, capsys, monkeypatch, me_server):
    url, _ = me_server
    add_sa(capsys, monkeypatch, "bad", url, "wrong-secret-123")
    code, out, err = run(["test"], capsys, monkeypatch)
    assert code == 1
    assert out == ""
    assert "HTTP 401" in err and "Invalid username or secret" in err
    assert "wrong-secret-123" not in err
    assert "region" in err  # the hint


def test_auth_test_legacy_checks_an_endpoint_a_project_secret_can_use(cfg_path, capsys, monkeypatch, emulator):
    secret = emulator.project_secret
    run(["add", "old", "--legacy", "--api-url", emulator.url], capsys, monkeypatch, stdin=secret + "\n")
    code, out, err = run(["test", "old"], capsys, monkeypatch)
    assert code == 0, err
    assert out.startswith("OK: account 'old' (a legacy project secret) can query its project")
    assert [r.path for r in emulator.requests] == ["/api/query/events/names"]
    assert secret not in out + err


def test_auth_test_legacy_with_a_wrong_secret_fails(cfg_path, capsys, monkeypatch, emulator):
    run(["add", "old", "--legacy", "--api-url", emulator.url], capsys, monkeypatch, stdin="not-the-secret-42\n")
    code, out, err = run(["test", "old"], capsys, monkeypatch)
    assert code == 1 and out == ""
    assert "FAILED" in err and "HTTP 401" in err and "not-the-secret-42" not in err


def test_auth_test_from_environment(cfg_path, capsys, monkeypatch, me_server):
    url, _ = me_server
    monkeypatch.setenv("MP_USERNAME", "sa.user")
    monkeypatch.setenv("MP_SECRET", SECRET)
    monkeypatch.setenv("MP_PROJECT_ID", "999")
    monkeypatch.setenv("MP_API_URL", url)
    code, out, err = run(["test"], capsys, monkeypatch)
    assert code == 0, err
    assert "environment" in err
    assert "warning: project 999 is not among this account's projects" in out
    assert SECRET not in out + err


def test_auth_test_env_api_url_overrides_file(cfg_path, capsys, monkeypatch, me_server):
    url, _ = me_server
    add_sa(capsys, monkeypatch, "prod", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("MP_API_URL", url)
    code, _, err = run(["test"], capsys, monkeypatch)
    assert code == 0, err


def test_auth_test_connection_refused(cfg_path, capsys, monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    add_sa(capsys, monkeypatch, "prod", f"http://127.0.0.1:{port}")
    code, out, err = run(["test"], capsys, monkeypatch)
    assert code == 1 and out == ""
    assert "FAILED:" in err and "Connection refused" in err and SECRET not in err


def test_auth_test_nothing_configured(cfg_path, capsys, monkeypatch):
    code, out, err = run(["test"], capsys, monkeypatch)
    assert code == 1 and out == ""
    assert "mpsql auth add NAME" in err and "mpsql --demo" in err


def test_check_credentials_returns_body(me_server):
    url, _ = me_server
    body = auth.check_credentials(Account("x", "sa.user", Secret(SECRET), PROJECT_ID, api_url=url))
    assert body["status"] == "ok" and body["results"]["user_id"] == 7


# --- hostile input: clear errors naming what is wrong, never a traceback ------------------------------------------


def test_a_23_digit_project_id_is_a_usage_error_naming_the_option(cfg_path, capsys, monkeypatch):
    code, out, err = run(["add", "x", "-u", "sa.user", "--project-id", "1" * 23], capsys, monkeypatch,
                         stdin=SECRET + "\n")
    assert code == 2 and out == ""
    assert "argument --project-id/-p: must be a positive integer, not '11111111111111111111111' " \
           "(at most 9223372036854775807)" in err
    assert not cfg_path.exists()


def test_a_blank_username_is_refused_rather_than_stored_as_a_legacy_account(cfg_path, capsys, monkeypatch):
    code, _, err = run(["add", "x", "--username", " ", "--project-id", "1"], capsys, monkeypatch,
                       stdin=SECRET + "\n")
    assert code == 1 and "username is blank" in err
    assert not cfg_path.exists()


@pytest.mark.parametrize("lang", ["C.UTF-8", "C"])
def test_a_secret_that_is_not_utf8_is_a_clear_error_without_a_traceback(cfg_path, lang):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MP_", "LC_", "LANG", "PYTHONUTF8",
                                                                    "PYTHONIOENCODING"))}
    env.update(MP_CONFIG_PATH=str(cfg_path), LANG=lang, LC_ALL=lang)
    proc = subprocess.run([sys.executable, "-m", "mpsql.cli.auth", "add", "x", "--legacy"],
                          input=b"sekrit-\xff\xfe-tail\n", capture_output=True, env=env, timeout=60)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1, err
    assert "mpsql auth: error: the secret is not UTF-8 text" in err
    assert "Traceback" not in err and "sekrit" not in err
    assert not cfg_path.exists()


def test_mp_accounts_reports_a_huge_project_id_in_the_file_as_a_config_error(cfg_path, monkeypatch):
    import duckdb

    import mpsql

    cfg_path.parent.mkdir(parents=True)
    cfg_path.write_text(f'[accounts.a]\nusername = "sa"\nsecret = "{SECRET}"\nproject_id = {10**22}\n')
    cfg_path.chmod(0o600)
    con = mpsql.connect(account=Account("t", None, Secret(SECRET)))
    try:
        with pytest.raises(duckdb.Error, match=r"project_id must be a positive integer") as info:
            con.execute("SELECT * FROM mp_accounts()").fetchall()
        assert "OverflowError" not in str(info.value) and SECRET not in str(info.value)
    finally:
        con.close()


def test_add_with_a_data_view_and_a_new_file_mixpanel_headless_reads(cfg_path, capsys, monkeypatch):
    add_sa(capsys, monkeypatch, "prod", None, SECRET, "--workspace-id", "4242")
    account = ConfigStore(cfg_path).get("prod")
    assert account.workspace_id == 4242 and account.project_id == PROJECT_ID
    text = cfg_path.read_text()
    assert 'type = "service_account"' in text and f'default_project = "{PROJECT_ID}"' in text
    assert "[active]" in text and 'account = "prod"' in text
    code, _, err = run(["add", "x", "--username", "u", "--project-id", "1", "--workspace-id", "0"], capsys,
                       monkeypatch, stdin="s\n")
    assert code == 2 and "--workspace-id" in err


def test_auth_test_checks_the_accounts_data_view(cfg_path, capsys, monkeypatch, emulator):
    c = emulator.credentials
    view = next(iter(emulator.data_views))
    for name, wid in (("good", view), ("bad", 77)):
        code, _, err = run(["add", name, "--username", c.username, "--project-id", str(c.project_id),
                            "--api-url", emulator.url, "--workspace-id", str(wid)], capsys, monkeypatch,
                           stdin=c.secret + "\n")
        assert code == 0, err
    code, out, err = run(["test", "good"], capsys, monkeypatch)
    assert code == 0 and f"data view {view}: All Project Data" in out, out + err
    code, out, err = run(["test", "bad"], capsys, monkeypatch)
    assert "warning: data view 77 is not among" in out and c.secret not in out + err
