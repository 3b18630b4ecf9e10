"""~/.mp/config.toml shared with Mixpanel's own clients: both layouts read (fixture texts in tests/fixtures/config),
rewrites keep what another tool wrote, and the environment variables those clients use."""

from __future__ import annotations

import os
import shutil
import stat
import tomllib
from pathlib import Path

import pytest

from mpsql.config import Account, ConfigStore, Secret, account_from_env, resolve_account
from mpsql.errors import ConfigError

FIXTURES = Path(__file__).parent.parent / "fixtures" / "config"
HEADLESS_KEYS = {"type", "region", "default_project", "username", "secret", "token", "token_env"}


def copy_fixture(name: str, tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    shutil.copyfile(FIXTURES / name, path)
    os.chmod(path, 0o600)
    return path


def parsed(path: Path) -> dict:
    return tomllib.loads(path.read_text())


def assert_headless_accepts(doc: dict) -> None:
    """What mixpanel-headless checks of the accounts: a known type, its keys only, the project as digits."""
    for name, block in doc["accounts"].items():
        assert block.get("type") in ("service_account", "oauth_token", "oauth_browser"), name
        assert set(block) <= HEADLESS_KEYS, (name, set(block) - HEADLESS_KEYS)
        assert isinstance(block.get("default_project", "1"), str) and block.get("default_project", "1").isdigit()
    assert doc["active"]["account"] in doc["accounts"]


# ---------------------------------------------------------------- reading


def test_a_mixpanel_headless_file_resolves_its_accounts(tmp_path, monkeypatch):
    path = copy_fixture("mixpanel-headless.toml", tmp_path)
    team = resolve_account(env={}, path=path)  # [active] account, with its data view
    assert (team.name, team.username, team.project_id, team.region, team.workspace_id, team.bearer) == (
        "team", "team-reader.2b7c1e.mp-service-account", 271828, "eu", 4242, False)
    assert team.secret.reveal() == "fixture-team-secret-7d1f09a3c4"

    ci = resolve_account("ci", env={"FIXTURE_MP_TOKEN": "tok-from-env-1234"}, path=path)
    assert resolve_account("team", env={}, path=path).workspace_id == 4242  # named, still the active account
    assert ci.workspace_id is None  # the active data view is the active account's only
    assert ci.bearer and ci.kind == "oauth_token" and ci.project_id == 314159 and ci.username is None
    assert ci.secret.reveal() == "tok-from-env-1234" and "tok-from-env" not in repr(ci)

    store = ConfigStore(path)
    assert store.default_name() == "team"
    monkeypatch.setenv("FIXTURE_MP_TOKEN", "tok-from-env-1234")
    assert [a.name for a in store.list_accounts()] == ["team", "ci"]  # the browser login is not mpsql's


def test_a_mixpanel_headless_account_mpsql_cannot_use_says_why(tmp_path):
    path = copy_fixture("mixpanel-headless.toml", tmp_path)
    with pytest.raises(ConfigError, match=r"oauth_browser.*MP_OAUTH_TOKEN"):
        resolve_account("laptop", env={}, path=path)
    with pytest.raises(ConfigError, match=r"\$FIXTURE_MP_TOKEN, which is not set"):
        resolve_account("ci", env={}, path=path)


def test_a_mixpanel_data_file_resolves_its_accounts(tmp_path):
    path = copy_fixture("mixpanel-data.toml", tmp_path)
    prod = resolve_account(env={}, path=path)
    assert (prod.name, prod.project_id, prod.region, prod.workspace_id) == ("prod", 112358, "us", None)
    eu = resolve_account(env={"MP_ACCOUNT": "eu"}, path=path)
    assert (eu.username, eu.project_id, eu.region) == ("eu-exporter.41d0.mp-service-account", 132134, "eu")
    assert [a.name for a in ConfigStore(path).list_accounts()] == ["prod", "eu"]


@pytest.mark.parametrize(("table", "needle"), [
    ('type = "service_account"\nusername = "u"\nsecret = "s"\ndefault_project = "12"\nproject_id = 13\n',
     "project_id 13 and default_project '12' disagree"),
    ('type = "service_account"\nusername = "u"\nsecret = "s"\ndefault_project = "twelve"\n',
     "default_project must be a project id"),
    ('type = "magic"\nsecret = "s"\n', "type must be one of service_account, oauth_token"),
    ('type = "oauth_token"\ndefault_project = "12"\n', "needs token"),
    ('secret = "s"\nworkspace_id = "7"\n', "workspace_id must be a positive integer"),
    ('secret = "s"\nworkspce_id = 7\n', "did you mean 'workspace_id'"),
])
def test_bad_shared_tables_name_the_key(tmp_path, table, needle):
    path = tmp_path / "c.toml"
    path.write_text(f'default = "a"\n[accounts.a]\n{table}')
    os.chmod(path, 0o600)
    with pytest.raises(ConfigError, match=needle):
        resolve_account(env={}, path=path)


def test_foreign_keys_in_an_account_table_are_tolerated(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('default = "a"\n[accounts.a]\nsecret = "s3cr3t-value"\nlabel = "from another tool"\n')
    os.chmod(path, 0o600)
    assert resolve_account(env={}, path=path).is_legacy


# ---------------------------------------------------------------- rewriting


def test_rewriting_a_mixpanel_headless_file_keeps_its_keys_and_layout(tmp_path):
    path = copy_fixture("mixpanel-headless.toml", tmp_path)
    before = parsed(path)
    store = ConfigStore(path)
    store.add(Account("extra", "extra.sa", Secret("extra-secret-value-99"), 555, "in", workspace_id=None))
    after = parsed(path)
    assert_headless_accepts(after)
    assert after["accounts"]["extra"] == {"type": "service_account", "username": "extra.sa",
                                          "secret": "extra-secret-value-99", "default_project": "555",
                                          "region": "in"}
    for name in ("team", "ci", "laptop"):
        assert after["accounts"][name] == before["accounts"][name]
    assert after["targets"] == before["targets"] and after["active"] == before["active"]
    assert "default" not in after
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    store.set_default("extra")
    after = parsed(path)
    assert after["active"] == {"account": "extra"}  # the data view was the old account's
    assert store.default_name() == "extra" and resolve_account(env={}, path=path).name == "extra"

    # replacing an account keeps its other keys; removing one keeps the rest
    store.add(Account("team", "team.sa2", Secret("team-secret-2-value"), 271828, "eu"))
    assert parsed(path)["accounts"]["team"]["type"] == "service_account"
    assert store.remove("extra") is None
    after = parsed(path)
    assert_headless_accepts({**after, "active": {"account": "team"}})
    assert "active" not in after and after["targets"] == before["targets"]
    assert set(after["accounts"]) == {"team", "ci", "laptop"}


def test_rewriting_a_mixpanel_data_file_keeps_its_layout(tmp_path):
    path = copy_fixture("mixpanel-data.toml", tmp_path)
    text = path.read_text().replace("region = \"eu\"", "region = \"eu\"\ncomment = \"kept\"")
    path.write_text(text + "\n[settings]\ncolor = false\n")
    store = ConfigStore(path)
    store.add(Account("new", "new.sa", Secret("new-secret-value-1"), 777, "us"), make_default=True)
    after = parsed(path)
    assert after["default"] == "new" and "active" not in after
    assert after["accounts"]["new"] == {"username": "new.sa", "secret": "new-secret-value-1", "project_id": 777,
                                        "region": "us"}
    assert after["accounts"]["eu"]["comment"] == "kept" and after["settings"] == {"color": False}
    assert after["accounts"]["prod"]["project_id"] == 112358


def test_a_new_file_is_written_in_a_layout_mixpanel_headless_reads(tmp_path):
    path = tmp_path / "home" / ".mp" / "config.toml"
    store = ConfigStore(path)
    store.add(Account("prod", "sa.prod", Secret("prod-secret-value-1"), 12345, "eu", api_url=None))
    doc = parsed(path)
    assert_headless_accepts(doc)
    assert doc["active"] == {"account": "prod"}
    assert resolve_account(env={}, path=path).project_id == 12345
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_oauth_token_account_round_trips(tmp_path):
    path = tmp_path / "config.toml"
    ConfigStore(path).add(Account("tok", None, Secret("oauth-token-value-42"), 99, bearer=True, workspace_id=5))
    doc = parsed(path)
    assert doc["accounts"]["tok"]["type"] == "oauth_token" and doc["accounts"]["tok"]["token"] == \
        "oauth-token-value-42"
    again = resolve_account(env={}, path=path)
    assert again.bearer and again.project_id == 99 and again.workspace_id == 5


# ---------------------------------------------------------------- environment


def test_mp_api_base_url_is_mp_api_url(tmp_path):
    env = {"MP_SECRET": "legacy-secret-1", "MP_API_BASE_URL": "http://127.0.0.1:9/"}
    assert resolve_account(env=env, path=tmp_path / "none.toml").api_url == "http://127.0.0.1:9"
    with pytest.raises(ConfigError, match=r"MP_API_URL .* and MP_API_BASE_URL .* disagree"):
        resolve_account(env={**env, "MP_API_URL": "http://127.0.0.1:10"}, path=tmp_path / "none.toml")
    with pytest.raises(ConfigError, match="MP_API_BASE_URL must be an http"):
        resolve_account(env={**env, "MP_API_BASE_URL": "ftp://x"}, path=tmp_path / "none.toml")


def test_mp_oauth_token_with_mp_project_id(tmp_path):
    env = {"MP_OAUTH_TOKEN": "env-oauth-token-77", "MP_PROJECT_ID": "31", "MP_WORKSPACE_ID": "8"}
    a = resolve_account(env=env, path=tmp_path / "none.toml")
    assert a.bearer and a.project_id == 31 and a.workspace_id == 8 and a.source == "environment"
    assert "env-oauth-token-77" not in repr(a) + a.describe()
    with pytest.raises(ConfigError, match="MP_PROJECT_ID is not set: an OAuth token"):
        account_from_env({"MP_OAUTH_TOKEN": "env-oauth-token-77"})
    with pytest.raises(ConfigError, match="MP_WORKSPACE_ID must be a positive integer"):
        account_from_env({**env, "MP_WORKSPACE_ID": "view"})
    # a service account in the environment wins over a token
    sa = resolve_account(env={**env, "MP_SECRET": "sa-secret-1", "MP_USERNAME": "sa"}, path=tmp_path / "n.toml")
    assert not sa.bearer and sa.username == "sa"


def test_auth_list_reads_a_mixpanel_headless_file(tmp_path, monkeypatch, capsys):
    import json

    from mpsql.cli import auth

    path = copy_fixture("mixpanel-headless.toml", tmp_path)
    monkeypatch.setenv("MP_CONFIG_PATH", str(path))
    monkeypatch.setenv("FIXTURE_MP_TOKEN", "tok-from-env-1234")
    assert auth.main(["list"]) == 0
    out, err = capsys.readouterr()
    assert "(OAuth token)" in out and "team-reader" in out and "tok-from-env" not in out + err
    assert auth.main(["list", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["default"] == "team"
    assert [(a["name"], a["kind"], a["project_id"], a["workspace_id"]) for a in listed["accounts"]] == [
        ("team", "service_account", 271828, 4242), ("ci", "oauth_token", 314159, None)]
