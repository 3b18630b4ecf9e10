"""mpsql.config: Secret, Account, the config file's safety rules, and resolve_account's order."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mpsql.config import Account, ConfigStore, Secret, config_path, resolve_account
from mpsql.errors import ConfigError

SECRET = "sekrit-value-7f3a9c"
OTHER_SECRET = "other-secret-b81e44"


def write_config(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)
    return path


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    return write_config(
        tmp_path / "config.toml",
        f"""
default = "prod"

[accounts.prod]
username = "sa.prod"
secret = "{SECRET}"
project_id = 111
region = "us"

[accounts.staging]
username = "sa.staging"
secret = "{OTHER_SECRET}"
project_id = 222
region = "eu"
api_url = "http://127.0.0.1:8123/"

[accounts.legacy]
secret = "{OTHER_SECRET}"
""",
    )


# --- Secret and Account ------------------------------------------------------------------------------------


def test_secret_never_shows_itself():
    s = Secret(SECRET)
    assert s.reveal() == SECRET
    texts = [repr(s), str(s), f"{s}", f"{s!r}", f"{s:>20}", "%s" % (s,)]  # noqa: UP031
    for text in texts:
        assert SECRET not in text
    assert repr(s) == "Secret('********')"
    assert Secret(SECRET) == Secret(SECRET) and Secret(SECRET) != Secret("x")


def test_account_repr_hides_secret():
    a = Account("prod", "sa.user", Secret(SECRET), 42, "eu", None, "test")
    assert SECRET not in repr(a) and SECRET not in str(a) and SECRET not in a.describe()
    assert not a.is_legacy
    assert a.basic_auth() == ("sa.user", SECRET)


def test_account_accepts_plain_str_secret_and_wraps_it():
    a = Account("x", None, SECRET)  # type: ignore[arg-type]
    assert isinstance(a.secret, Secret)
    assert SECRET not in repr(a)


def test_legacy_account():
    a = Account("old", None, Secret(SECRET), source="test")
    assert a.is_legacy
    assert a.project_id is None
    assert a.basic_auth() == (SECRET, "")


def test_account_is_frozen():
    a = Account("old", None, Secret(SECRET))
    with pytest.raises(AttributeError):
        a.region = "eu"  # type: ignore[misc]


@pytest.mark.parametrize("region", ["EU", " in "])
def test_region_is_normalised(region):
    assert Account("x", None, Secret(SECRET), region=region).region == region.strip().lower()


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"region": "asia"}, "region must be one of us, eu, in, not 'asia'"),
        ({"project_id": 0}, "project_id must be a positive integer"),
        ({"project_id": -5}, "project_id must be a positive integer"),
        ({"project_id": "123"}, "project_id must be a positive integer"),
        ({"project_id": True}, "project_id must be a positive integer"),
        ({"api_url": "localhost:8123"}, "api_url must be an http:// or https:// URL"),
    ],
)
def test_account_validation_messages(kwargs, needle):
    with pytest.raises(ConfigError) as e:
        Account("acct", None, Secret(SECRET), **kwargs)
    assert needle in str(e.value)
    assert "'acct'" in str(e.value)
    assert SECRET not in str(e.value)


def test_service_account_requires_project_id():
    with pytest.raises(ConfigError, match="project_id is required for a service account"):
        Account("acct", "sa.user", Secret(SECRET))


def test_empty_secret_rejected():
    with pytest.raises(ConfigError, match="secret is empty"):
        Account("acct", None, Secret("  "))


def test_long_bad_value_is_not_echoed():
    # a secret pasted into the wrong field must not end up in the message
    with pytest.raises(ConfigError) as e:
        Account("acct", None, Secret("s"), region=SECRET * 2)
    assert SECRET not in str(e.value)


def test_api_url_trailing_slash_stripped():
    assert Account("x", None, Secret(SECRET), api_url="http://h:1/").api_url == "http://h:1"


# --- resolution order --------------------------------------------------------------------------------------


def test_config_path_default_and_override(tmp_path):
    assert config_path({}) == Path("~/.mp/config.toml").expanduser()
    assert config_path({"MP_CONFIG_PATH": str(tmp_path / "c.toml")}) == tmp_path / "c.toml"


def test_default_account_from_file(cfg):
    a = resolve_account(env={}, path=cfg)
    assert (a.name, a.username, a.project_id, a.region) == ("prod", "sa.prod", 111, "us")
    assert a.secret.reveal() == SECRET
    assert a.source == f"config:{cfg}"


def test_path_from_env_MP_CONFIG_PATH(cfg):
    assert resolve_account(env={"MP_CONFIG_PATH": str(cfg)}).name == "prod"


def test_explicit_name_wins_over_everything(cfg):
    env = {"MP_SECRET": "envsecret", "MP_USERNAME": "u", "MP_PROJECT_ID": "9", "MP_ACCOUNT": "prod"}
    a = resolve_account("staging", env=env, path=cfg)
    assert a.name == "staging"
    assert a.api_url == "http://127.0.0.1:8123"
    assert a.region == "eu"


def test_env_credentials_win_over_MP_ACCOUNT_and_default(cfg):
    env = {"MP_SECRET": "envsecret", "MP_USERNAME": "sa.env", "MP_PROJECT_ID": "777", "MP_ACCOUNT": "staging"}
    a = resolve_account(env=env, path=cfg)
    assert (a.username, a.project_id, a.region, a.api_url, a.source) == (
        "sa.env", 777, "us", None, "environment"
    )
    assert a.secret.reveal() == "envsecret"


def test_env_full(cfg):
    env = {
        "MP_SECRET": "envsecret",
        "MP_USERNAME": "sa.env",
        "MP_PROJECT_ID": "777",
        "MP_REGION": "IN",
        "MP_API_URL": "http://127.0.0.1:9/",
    }
    a = resolve_account(env=env, path=cfg)
    assert (a.region, a.api_url) == ("in", "http://127.0.0.1:9")


def test_env_time_zone_and_legacy_time_describe_the_environments_account_and_override_a_files(cfg):
    env = {"MP_SECRET": "envsecret", "MP_USERNAME": "sa.env", "MP_PROJECT_ID": "777",
           "MP_TIMEZONE": "Asia/Tokyo", "MP_LEGACY_TIME": "true"}
    a = resolve_account(env=env, path=cfg)
    assert (a.timezone, a.legacy_time) == ("Asia/Tokyo", True)
    b = resolve_account(env={"MP_TIMEZONE": "America/Los_Angeles", "MP_LEGACY_TIME": "0"}, path=cfg)
    assert (b.source, b.timezone, b.legacy_time) != ("environment", None, None)
    assert (b.timezone, b.legacy_time) == ("America/Los_Angeles", False)


def test_env_legacy_secret_needs_no_project(tmp_path):
    a = resolve_account(env={"MP_SECRET": "legacy-secret"}, path=tmp_path / "missing.toml")
    assert a.is_legacy and a.project_id is None and a.source == "environment"


def test_env_service_account_missing_project_id(tmp_path):
    with pytest.raises(ConfigError) as e:
        resolve_account(env={"MP_SECRET": SECRET, "MP_USERNAME": "sa"}, path=tmp_path / "none.toml")
    assert "MP_PROJECT_ID is not set" in str(e.value)
    assert SECRET not in str(e.value)


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"MP_PROJECT_ID": "abc"}, "MP_PROJECT_ID must be a positive integer, not 'abc'"),
        ({"MP_PROJECT_ID": "0"}, "MP_PROJECT_ID must be a positive integer"),
        ({"MP_REGION": "mars"}, "MP_REGION must be one of us, eu, in, not 'mars'"),
        ({"MP_API_URL": "ftp://x"}, "MP_API_URL must be an http:// or https:// URL"),
        ({"MP_LEGACY_TIME": "maybe"}, "MP_LEGACY_TIME must be true or false, not 'maybe'"),
        ({"MP_TIMEZONE": "Mars/Olympus"}, "MP_TIMEZONE must be an IANA time zone name"),
    ],
)
def test_env_bad_values_name_the_variable(tmp_path, env, needle):
    with pytest.raises(ConfigError) as e:
        resolve_account(env={"MP_SECRET": SECRET, "MP_USERNAME": "sa", "MP_PROJECT_ID": "1", **env},
                        path=tmp_path / "none.toml")
    assert needle in str(e.value)
    assert SECRET not in str(e.value)


def test_username_without_secret_is_an_error(cfg):
    with pytest.raises(ConfigError, match="MP_USERNAME is set but MP_SECRET is not"):
        resolve_account(env={"MP_USERNAME": "sa"}, path=cfg)


def test_empty_MP_SECRET_counts_as_unset(cfg):
    assert resolve_account(env={"MP_SECRET": "", "MP_USERNAME": ""}, path=cfg).name == "prod"


def test_MP_ACCOUNT_picks_named_account(cfg):
    a = resolve_account(env={"MP_ACCOUNT": "legacy"}, path=cfg)
    assert a.name == "legacy" and a.is_legacy


def test_MP_ACCOUNT_unknown_lists_names(cfg):
    with pytest.raises(ConfigError) as e:
        resolve_account(env={"MP_ACCOUNT": "nope"}, path=cfg)
    msg = str(e.value)
    assert "MP_ACCOUNT is 'nope'" in msg
    assert "configured accounts: prod, staging, legacy" in msg


def test_explicit_unknown_name_lists_names(cfg):
    with pytest.raises(ConfigError) as e:
        resolve_account("nope", env={}, path=cfg)
    msg = str(e.value)
    assert "no account named 'nope'" in msg and "prod, staging, legacy" in msg
    assert SECRET not in msg and OTHER_SECRET not in msg


def test_explicit_name_without_file(tmp_path):
    with pytest.raises(ConfigError) as e:
        resolve_account("prod", env={}, path=tmp_path / "none.toml")
    assert "no config file at" in str(e.value) and "mpsql auth add prod" in str(e.value)


def test_env_overrides_region_and_api_url_of_file_account(cfg):
    a = resolve_account(env={"MP_REGION": "eu", "MP_API_URL": "http://127.0.0.1:5"}, path=cfg)
    assert (a.name, a.region, a.api_url) == ("prod", "eu", "http://127.0.0.1:5")
    b = resolve_account("staging", env={"MP_API_URL": "https://proxy.example"}, path=cfg)
    assert b.api_url == "https://proxy.example"


def test_nothing_configured_says_how_to_fix(tmp_path):
    with pytest.raises(ConfigError) as e:
        resolve_account(env={}, path=tmp_path / "none.toml")
    msg = str(e.value)
    assert "MP_SECRET is not set" in msg
    assert f"no config file at {tmp_path / 'none.toml'}" in msg
    assert "mpsql auth add NAME" in msg
    assert "MP_USERNAME, MP_SECRET, MP_PROJECT_ID" in msg
    assert "mpsql --demo" in msg


def test_file_without_accounts(tmp_path):
    p = write_config(tmp_path / "c.toml", "")
    with pytest.raises(ConfigError, match="has no accounts") as e:
        resolve_account(env={}, path=p)
    assert "mpsql auth add NAME" in str(e.value)


def test_file_without_default(tmp_path):
    p = write_config(tmp_path / "c.toml", f'[accounts.a]\nsecret = "{SECRET}"\n[accounts.b]\nsecret = "x"\n')
    with pytest.raises(ConfigError) as e:
        resolve_account(env={}, path=p)
    msg = str(e.value)
    assert "no default account" in msg and "configured accounts: a, b" in msg
    assert "mpsql auth default NAME" in msg and "MP_ACCOUNT" in msg
    assert SECRET not in msg


def test_default_pointing_nowhere(tmp_path):
    p = write_config(tmp_path / "c.toml", 'default = "gone"\n[accounts.a]\nsecret = "x"\n')
    with pytest.raises(ConfigError, match=r"default account 'gone'.*does not exist; configured accounts: a"):
        resolve_account(env={}, path=p)


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        ('username = "u"\nsecret = "S"\n', "project_id is required for a service account"),
        ('username = "u"\nsecret = "S"\nproject_id = "12"\n', "project_id must be a positive integer"),
        ('secret = "S"\nregion = "apac"\n', "region must be one of us, eu, in"),
        ('username = "u"\nproject_id = 1\n', "has no secret"),
        ('secret = "S"\nprojectid = 1\n', "unknown key 'projectid'"),
    ],
)
def test_bad_account_in_file(tmp_path, table, needle):
    p = write_config(tmp_path / "c.toml", f'default = "a"\n[accounts.a]\n{table}')
    with pytest.raises(ConfigError) as e:
        resolve_account(env={}, path=p)
    assert needle in str(e.value)
    assert "'a'" in str(e.value)


def test_unparsable_file(tmp_path):
    p = write_config(tmp_path / "c.toml", f'secret = "{SECRET}\n[[[')
    with pytest.raises(ConfigError, match="cannot parse config file") as e:
        resolve_account(env={}, path=p)
    assert SECRET not in str(e.value)


# --- file safety -------------------------------------------------------------------------------------------


def test_symlink_refused(cfg, tmp_path):
    link = tmp_path / "link.toml"
    link.symlink_to(cfg)
    with pytest.raises(ConfigError) as e:
        resolve_account(env={}, path=link)
    msg = str(e.value)
    assert "symbolic link" in msg and "Replace the link with the file itself" in msg
    with pytest.raises(ConfigError, match="symbolic link"):
        ConfigStore(link).add(Account("n", None, Secret("x")))
    assert link.is_symlink()  # writing did not replace the link either


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o601])
def test_open_mode_refused_with_chmod_hint(cfg, mode):
    os.chmod(cfg, mode)
    with pytest.raises(ConfigError) as e:
        resolve_account(env={}, path=cfg)
    msg = str(e.value)
    assert f"its mode is {mode:04o}" in msg
    assert f"chmod 600 {cfg}" in msg
    assert SECRET not in msg


def test_mode_0400_is_fine(cfg):
    os.chmod(cfg, 0o400)
    assert resolve_account(env={}, path=cfg).name == "prod"


def test_directory_refused(tmp_path):
    d = tmp_path / "c.toml"
    d.mkdir(mode=0o700)
    with pytest.raises(ConfigError):
        resolve_account(env={}, path=d)


# --- writing -----------------------------------------------------------------------------------------------


def test_add_creates_dir_0700_and_file_0600(tmp_path):
    path = tmp_path / "home" / ".mp" / "config.toml"
    store = ConfigStore(path)
    assert store.list_accounts() == [] and store.default_name() is None
    store.add(Account("prod", "sa", Secret(SECRET), 5, "eu"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert store.default_name() == "prod"  # the first account becomes the default
    a = store.get("prod")
    assert (a.username, a.secret.reveal(), a.project_id, a.region) == ("sa", SECRET, 5, "eu")
    # no temp file left; the lock file stays (deleting it would let two writers lock different inodes)
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.toml", "config.toml.lock"]


def test_add_keeps_other_accounts_and_default(cfg):
    store = ConfigStore(cfg)
    store.add(Account("new", None, Secret("n3w"), region="in", api_url="http://127.0.0.1:1"))
    assert store.names() == ["prod", "staging", "legacy", "new"]
    assert store.default_name() == "prod"
    assert store.get("staging").secret.reveal() == OTHER_SECRET
    assert store.get("staging").api_url == "http://127.0.0.1:8123"
    assert store.get("new").api_url == "http://127.0.0.1:1"
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    store.add(Account("new2", None, Secret("x")), make_default=True)
    assert store.default_name() == "new2"


def test_add_replaces_same_name(cfg):
    store = ConfigStore(cfg)
    assert store.add(Account("prod", "sa.rotated", Secret("rotated"), 111)) is True
    assert store.get("prod").secret.reveal() == "rotated"
    assert store.names() == ["prod", "staging", "legacy"]


def test_add_rejects_odd_names(tmp_path):
    with pytest.raises(ConfigError, match="invalid account name"):
        ConfigStore(tmp_path / "c.toml").add(Account("a b", None, Secret("x")))


def test_write_is_atomic_via_replace(cfg, monkeypatch):
    """A failure before os.replace leaves the old file intact and no temp file behind."""
    before = cfg.read_bytes()
    import mpsql.config as config_mod

    def boom(src, dst):
        assert stat.S_IMODE(os.stat(src).st_mode) == 0o600
        raise OSError("disk full")

    monkeypatch.setattr(config_mod.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        ConfigStore(cfg).add(Account("x", None, Secret("y")))
    assert cfg.read_bytes() == before
    assert sorted(p.name for p in cfg.parent.iterdir()) == ["config.toml", "config.toml.lock"]


def test_write_preserves_unknown_top_level_tables(tmp_path):
    p = write_config(tmp_path / "c.toml", '[settings]\ncolor = true\n[accounts.a]\nsecret = "x"\n')
    ConfigStore(p).add(Account("b", None, Secret("y")))
    text = p.read_text()
    assert "[settings]" in text and "color = true" in text


def test_remove_and_set_default(cfg):
    store = ConfigStore(cfg)
    store.set_default("staging")
    assert store.default_name() == "staging"
    assert store.remove("prod") == "staging"
    assert store.names() == ["staging", "legacy"]
    assert store.remove("staging") == "legacy"  # one left: it becomes the default
    assert store.names() == ["legacy"]
    with pytest.raises(ConfigError, match=r"no account named 'zzz'.*configured accounts: legacy"):
        store.remove("zzz")
    with pytest.raises(ConfigError, match="no account named 'zzz'"):
        store.set_default("zzz")


def test_remove_default_with_several_left_clears_default(cfg):
    store = ConfigStore(cfg)
    assert store.remove("prod") is None
    assert store.default_name() is None
    assert store.names() == ["staging", "legacy"]


def test_list_accounts(cfg):
    accounts = ConfigStore(cfg).list_accounts()
    assert [a.name for a in accounts] == ["prod", "staging", "legacy"]
    assert [a.is_legacy for a in accounts] == [False, False, True]
    assert all(SECRET not in repr(a) and OTHER_SECRET not in repr(a) for a in accounts)


def _add_after_barrier(path: str, name: str, barrier) -> None:
    barrier.wait()
    ConfigStore(path).add(Account(name, "sa." + name, Secret(SECRET), 7))


def test_concurrent_adds_from_separate_processes_keep_every_account(tmp_path):
    """Twelve processes adding at the same instant: every account is in the file afterwards."""
    import multiprocessing

    path = tmp_path / "config.toml"
    names = [f"acct{i}" for i in range(12)]
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(names))
    procs = [ctx.Process(target=_add_after_barrier, args=(str(path), n, barrier)) for n in names]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * len(names)
    store = ConfigStore(path)
    assert sorted(store.names()) == sorted(names)
    assert store.default_name() in names
    assert stat.S_IMODE((tmp_path / "config.toml.lock").stat().st_mode) == 0o600


def test_lock_file_that_is_a_symlink_is_refused(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("")
    os.chmod(target, 0o644)
    (tmp_path / "config.toml.lock").symlink_to(target)
    with pytest.raises(ConfigError, match="cannot lock config file"):
        ConfigStore(tmp_path / "config.toml").add(Account("prod", None, Secret(SECRET)))
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert not (tmp_path / "config.toml").exists()


@pytest.mark.parametrize("source", ["account", "environment", "file"])
def test_a_project_id_beyond_64_bits_is_refused_wherever_it_comes_from(tmp_path, source):
    huge = 10**22  # 23 digits: no BIGINT holds it
    needle = r"(project_id|PROJECT_ID) must be a positive integer, not .*\(at most 9223372036854775807\)"
    with pytest.raises(ConfigError, match=needle):
        if source == "account":
            Account("acct", "sa", Secret(SECRET), huge)
        elif source == "environment":
            resolve_account(env={"MP_SECRET": SECRET, "MP_USERNAME": "sa", "MP_PROJECT_ID": str(huge)},
                            path=tmp_path / "none.toml")
        else:
            path = write_config(tmp_path / "c.toml",
                                f'[accounts.a]\nusername = "sa"\nsecret = "s"\nproject_id = {huge}\n')
            ConfigStore(path).list_accounts()
    assert Account("acct", "sa", Secret(SECRET), 2**63 - 1).project_id == 2**63 - 1


def test_a_blank_username_is_refused_not_turned_into_a_legacy_account():
    with pytest.raises(ConfigError, match="username is blank"):
        Account("acct", "   ", Secret(SECRET), 1)


# --- time zone settings ------------------------------------------------------------------------------------


def test_timezone_and_legacy_time_are_read_checked_and_kept_on_rewrite(tmp_path):
    path = write_config(tmp_path / "config.toml", f"""
[accounts.old]
username = "sa.old"
secret = "{SECRET}"
project_id = 7
timezone = "Asia/Tokyo"
legacy_time = true
""")
    store = ConfigStore(path)
    account = store.get("old")
    assert (account.timezone, account.legacy_time) == ("Asia/Tokyo", True)
    assert "time zone Asia/Tokyo" in account.describe() and "legacy time" in account.describe()
    # mpsql auth add of the same name (which knows nothing of time zones) keeps what the user set by hand
    store.add(Account("old", "sa.old", Secret(OTHER_SECRET), 7))
    again = ConfigStore(path).get("old")
    assert (again.timezone, again.legacy_time, again.secret.reveal()) == ("Asia/Tokyo", True, OTHER_SECRET)


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"timezone": "Mars/Olympus"}, "timezone must be an IANA time zone name"),
    ({"timezone": 9}, "timezone must be an IANA time zone name"),
    ({"timezone": "America"}, "timezone must be an IANA time zone name"),  # a folder of the zone database
    ({"timezone": "Etc/" + "A" * 300}, "timezone must be an IANA time zone name"),  # too long for a file name
    ({"legacy_time": "yes"}, "legacy_time must be true or false"),
])
def test_bad_time_zone_settings_name_the_key(kwargs, needle):
    with pytest.raises(ConfigError, match=needle):
        Account("acct", "sa.x", Secret(SECRET), 1, **kwargs)
