"""Accounts and credential resolution.

Credentials come from the environment (``MP_USERNAME``, ``MP_SECRET``, ``MP_PROJECT_ID``, ``MP_REGION``,
``MP_API_URL`` or ``MP_API_BASE_URL``; or ``MP_OAUTH_TOKEN`` with ``MP_PROJECT_ID`` for an OAuth Bearer token)
or from named accounts in a TOML file, ``~/.mp/config.toml`` unless ``MP_CONFIG_PATH`` says otherwise. The file
is shared with Mixpanel's own Python clients, and both of their layouts are read (docs/mixpanel-api.md,
"Mixpanel's clients' config file")::

    default = "prod"              # mixpanel_data's layout (and mpsql's before 0.x)

    [accounts.prod]
    username = "sa.user"      # service account; omit for a legacy project secret
    secret = "..."
    project_id = 12345        # required with username
    region = "us"             # us | eu | in
    api_url = "http://127.0.0.1:8123"   # optional (mpsql): one base URL for every API family
    workspace_id = 777        # optional (mpsql): the data view Query API calls use
    timezone = "America/Los_Angeles"  # optional (mpsql): the project's time zone (else asked of /me)
    legacy_time = true        # optional (mpsql): a project created before 2023 (local wall-clock times)

    [active]                      # mixpanel-headless's layout
    account = "prod"

    [accounts.prod]
    type = "service_account"  # service_account | oauth_token (oauth_browser: not usable by mpsql)
    username = "sa.user"
    secret = "..."
    default_project = "12345"
    region = "us"

Keys mpsql does not know are kept when it rewrites the file (``auth add``/``remove``/``default``), and it writes
in the layout the file already has; a new file gets mixpanel-headless's layout, which mixpanel-headless reads.

:func:`resolve_account` picks the account: an explicit name, else ``MP_SECRET`` and friends (then
``MP_OAUTH_TOKEN``), else ``MP_ACCOUNT``, else the file's ``default`` (else its ``[active] account``).
``MP_REGION``, ``MP_API_URL``/``MP_API_BASE_URL``, ``MP_WORKSPACE_ID``, ``MP_TIMEZONE`` and ``MP_LEGACY_TIME``
then override the chosen account.

The file holds secrets, so it is read only when it is a regular file (not a symlink) that grants no
permission to group or others, and it is always written atomically with mode 0600. Every change (add,
remove, set the default) holds an exclusive lock on ``config.toml.lock`` beside it for the whole
read-modify-write, so two ``mpsql auth add`` at once both land.

A secret travels as :class:`Secret`, whose ``repr`` and ``str`` are a mask; only ``.reveal()`` (used by the
HTTP layer) returns the value. No error raised here contains a secret.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import fcntl
import hmac
import os
import re
import secrets
import stat
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, cast, get_args

import tomli_w

from mpsql.errors import ConfigError

__all__ = [
    "ACCOUNT_KEYS",
    "MAX_PROJECT_ID",
    "REGIONS",
    "Account",
    "ConfigStore",
    "Region",
    "Secret",
    "account_from_env",
    "config_path",
    "env_has_credentials",
    "resolve_account",
]

Region = Literal["us", "eu", "in"]
REGIONS: tuple[str, ...] = get_args(Region)

#: The keys of an ``[accounts.NAME]`` table mpsql reads: its own, mixpanel_data's and mixpanel-headless's.
#: Other keys are kept as they are (another tool wrote them), unless one looks like a misspelt known key.
ACCOUNT_KEYS: tuple[str, ...] = ("username", "secret", "project_id", "region", "api_url", "workspace_id",
                                 "timezone", "legacy_time", "type", "default_project", "token", "token_env")

#: mixpanel-headless's account types mpsql can use (an ``oauth_browser`` login lives in its own token store).
_HEADLESS_TYPES = ("service_account", "oauth_token")

DEFAULT_CONFIG_PATH = Path("~/.mp/config.toml")

#: The largest project id: ids are stored and shown as 64-bit integers (BIGINT in mp_accounts()).
MAX_PROJECT_ID = 2**63 - 1

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

_FIX_HINT = (
    "  - store an account:  mpsql auth add NAME --username USER --project-id ID [--region us|eu|in]\n"
    "  - or set MP_USERNAME, MP_SECRET, MP_PROJECT_ID (and MP_REGION if not us) in the environment\n"
    "  - or try mpsql on built-in sample data:  mpsql --demo"
)


class Secret:
    """A secret string that hides itself: ``repr`` and ``str`` are a mask; ``reveal()`` is the value."""

    __slots__ = ("_value",)
    _MASK = "********"

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError(f"Secret wraps a str, not {type(value).__name__}")
        self._value = value

    def reveal(self) -> str:
        """The secret itself: for the Authorization header and the config file, nowhere else."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self._MASK!r})"

    def __str__(self) -> str:
        return self._MASK

    def __format__(self, spec: str) -> str:
        return format(self._MASK, spec)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> Any:  # pickling (e.g. to worker processes) keeps the value, as it must
        return (Secret, (self._value,))


def _known_zone(name: str) -> bool:
    """Whether ``name`` is a time zone the system's (or tzdata's) database knows."""
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder ("America"), a long name
        return False
    return True


def _show(value: object) -> str:
    """A value for an error message; long strings are not echoed (they might be a misplaced secret)."""
    if isinstance(value, str) and len(value) > 24:
        return f"a {len(value)}-character string"
    return repr(value)


@dataclasses.dataclass(frozen=True)
class Account:
    """One set of Mixpanel credentials.

    ``username`` set: a service account (Basic ``username:secret``, ``project_id`` required).
    ``username`` None: a legacy project secret (Basic ``secret:`` with an empty password; no project id).
    ``source`` says where it came from: ``"environment"``, ``"config:<path>"``, ``"demo"``...
    """

    name: str
    username: str | None
    secret: Secret
    project_id: int | None = None
    region: Region = "us"
    api_url: str | None = None
    source: str = ""
    store_key: str | None = None  # the event store's folder for this project, when the host cannot say (the demo)
    bearer: bool = False  # the secret is an OAuth access token, sent as ``Authorization: Bearer``
    workspace_id: int | None = None  # the data view sent with Query API calls
    timezone: str | None = None  # the project's time zone (an IANA name); None: ask GET /api/app/me when needed
    legacy_time: bool | None = None  # a project in legacy (pre-2023, local wall-clock) time mode; None: no

    def __post_init__(self) -> None:
        where = f"account {self.name!r}" + (f" ({self.source})" if self.source else "")
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError("an account needs a non-empty name")
        secret = self.secret
        if isinstance(secret, str):
            secret = Secret(secret)
        if not isinstance(secret, Secret):
            raise ConfigError(f"{where}: the secret must be a string")
        if not secret.reveal().strip():
            raise ConfigError(f"{where}: the secret is empty")
        object.__setattr__(self, "secret", secret)

        username = self.username
        if username is not None:
            if not isinstance(username, str):
                raise ConfigError(f"{where}: username must be a string, not {type(username).__name__}")
            username = username.strip()
            if not username:  # never silently a legacy account
                raise ConfigError(f"{where}: username is blank; give the service account's username, or leave "
                                  "it out for a legacy project secret")
        object.__setattr__(self, "username", username)

        pid = self.project_id
        if pid is not None and (isinstance(pid, bool) or not isinstance(pid, int) or not 0 < pid <= MAX_PROJECT_ID):
            raise ConfigError(f"{where}: project_id must be a positive integer, not {_show(pid)} "
                              f"(at most {MAX_PROJECT_ID})")
        if self.bearer and username is not None:
            raise ConfigError(f"{where}: an OAuth token account has no username")
        if self.bearer and pid is None:
            raise ConfigError(f"{where}: project_id is required with an OAuth token (MP_PROJECT_ID, or "
                              "default_project in the config file)")
        wid = self.workspace_id
        if wid is not None and (isinstance(wid, bool) or not isinstance(wid, int) or not 0 < wid <= MAX_PROJECT_ID):
            raise ConfigError(f"{where}: workspace_id must be a positive integer (a data view's id), not "
                              f"{_show(wid)}")
        if username is not None and pid is None:
            raise ConfigError(
                f"{where}: project_id is required for a service account (username {username!r}); "
                "find it in Mixpanel under Project Settings"
            )

        region = self.region
        if isinstance(region, str):
            region = region.strip().lower()
        if region not in REGIONS:
            raise ConfigError(
                f"{where}: region must be one of {', '.join(REGIONS)}, not {_show(self.region)}"
            )
        object.__setattr__(self, "region", region)

        api_url = self.api_url
        if api_url is not None:
            if not isinstance(api_url, str):
                raise ConfigError(f"{where}: api_url must be a string, not {type(api_url).__name__}")
            api_url = api_url.strip().rstrip("/") or None
            if api_url is not None and not re.match(r"^https?://[^/\s]+", api_url):
                raise ConfigError(
                    f"{where}: api_url must be an http:// or https:// URL, not {_show(self.api_url)}"
                )
            if api_url is not None and "@" in re.sub(r"^https?://", "", api_url).split("/", 1)[0]:
                raise ConfigError(f"{where}: api_url must not hold a user name or password (it would show in "
                                  "folder names, logs and mp_rate_limits); give the proxy's credentials otherwise")
        object.__setattr__(self, "api_url", api_url)

        zone = self.timezone
        if zone is not None:
            if not isinstance(zone, str) or not _known_zone(zone.strip()):
                raise ConfigError(f"{where}: timezone must be an IANA time zone name such as 'America/Los_Angeles' "
                                  f"or 'UTC', not {_show(zone)}")
            object.__setattr__(self, "timezone", zone.strip())
        if self.legacy_time is not None and not isinstance(self.legacy_time, bool):
            raise ConfigError(f"{where}: legacy_time must be true or false, not {_show(self.legacy_time)}")

    @property
    def is_legacy(self) -> bool:
        """True for a legacy project secret (no username, not an OAuth token)."""
        return self.username is None and not self.bearer

    @property
    def kind(self) -> str:
        """``service_account``, ``oauth_token`` or ``project_secret``."""
        return "oauth_token" if self.bearer else "project_secret" if self.is_legacy else "service_account"

    def basic_auth(self) -> tuple[str, str]:
        """The HTTP Basic (user, password) pair. Reveals the secret: for the HTTP layer only."""
        if self.bearer:
            raise ConfigError(f"account {self.name!r} holds an OAuth token, which is sent as a Bearer token")
        if self.username is None:
            return (self.secret.reveal(), "")
        return (self.username, self.secret.reveal())

    def describe(self) -> str:
        """A one-line, secret-free description, e.g. ``service account sa.user, project 12345, region us``."""
        kind = ("OAuth token" if self.bearer else "project secret (legacy)" if self.is_legacy
                else f"service account {self.username}")
        parts = [kind]
        if self.project_id is not None:
            parts.append(f"project {self.project_id}")
        if self.workspace_id is not None:
            parts.append(f"data view {self.workspace_id}")
        parts.append(f"region {self.region}")
        if self.timezone is not None:
            parts.append(f"time zone {self.timezone}")
        if self.legacy_time:
            parts.append("legacy time")
        if self.api_url:
            parts.append(f"api_url {self.api_url}")
        return ", ".join(parts)


# ---------------------------------------------------------------------------------------------------------
# The config file


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """Where the config file is: ``$MP_CONFIG_PATH`` or ``~/.mp/config.toml``."""
    env = os.environ if env is None else env
    raw = env.get("MP_CONFIG_PATH") or str(DEFAULT_CONFIG_PATH)
    return Path(raw).expanduser()


def _read_config(path: Path) -> dict[str, Any] | None:
    """Parse the file, refusing symlinks and files open to group/others. None if it does not exist."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise ConfigError(
            f"refusing to read config file {path}: it is a symbolic link. "
            f"Replace the link with the file itself (mode 0600), e.g.: "
            f"cp --remove-destination \"$(readlink -f {path})\" {path} && chmod 600 {path}"
        )
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"refusing to read config file {path}: it is not a regular file")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as e:  # ELOOP: it became a symlink since lstat
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"refusing to read config file {path}: it is not a regular file")
        if os.name != "nt" and st.st_mode & 0o077:
            mode = stat.S_IMODE(st.st_mode)
            raise ConfigError(
                f"refusing to read config file {path}: its mode is {mode:04o}, so other users may read "
                f"the secrets in it. Fix it with: chmod 600 {path}"
            )
        data = f.read()
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"cannot parse config file {path}: it is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"cannot parse config file {path}: {e}") from None
    _check_shape(doc, path)
    return doc


def _check_shape(doc: dict[str, Any], path: Path) -> None:
    default = doc.get("default")
    if default is not None and not isinstance(default, str):
        raise ConfigError(f"config file {path}: 'default' must be an account name (a string)")
    active = doc.get("active")
    if active is not None and not isinstance(active, dict):
        raise ConfigError(f"config file {path}: 'active' must be a table ([active] account = \"NAME\")")
    if isinstance(active, dict) and not isinstance(active.get("account", ""), str):
        raise ConfigError(f"config file {path}: [active] account must be an account name (a string)")
    accounts = doc.get("accounts", {})
    if not isinstance(accounts, dict):
        raise ConfigError(f"config file {path}: 'accounts' must be a table of [accounts.NAME] tables")
    for name, table in accounts.items():
        if not isinstance(table, dict):
            raise ConfigError(f"config file {path}: accounts.{name} must be a table ([accounts.{name}])")


def _account_from_table(name: str, table: Mapping[str, Any], path: Path,
                        env: Mapping[str, str] | None = None) -> Account:
    where = f"account {name!r} in {path}"
    for key in table:  # another tool's keys are fine; a misspelt known key is not
        close = difflib.get_close_matches(key, ACCOUNT_KEYS, n=1, cutoff=0.8) if key not in ACCOUNT_KEYS else []
        if close:
            raise ConfigError(f"{where}: unknown key {key!r} (did you mean {close[0]!r}? known keys: "
                              f"{', '.join(ACCOUNT_KEYS)})")
    kind = table.get("type")
    if kind is not None and kind not in _HEADLESS_TYPES:
        if kind == "oauth_browser":
            raise ConfigError(f"{where} is a browser login of mixpanel-headless (type 'oauth_browser'), which "
                              "mpsql cannot use: add a service account (mpsql auth add), or export "
                              "MP_OAUTH_TOKEN and MP_PROJECT_ID")
        raise ConfigError(f"{where}: type must be one of {', '.join(_HEADLESS_TYPES)}, not {_show(kind)}")
    project_id = _table_project(where, table)
    common: dict[str, Any] = {"name": name, "project_id": project_id, "region": table.get("region", "us"),
                              "api_url": table.get("api_url"), "workspace_id": table.get("workspace_id"),
                              "timezone": table.get("timezone"), "legacy_time": table.get("legacy_time"),
                              "source": f"config:{path}"}
    if kind == "oauth_token":
        token = table.get("token")
        if token is None and table.get("token_env") is not None:
            var = table["token_env"]
            if not isinstance(var, str) or not var.strip():
                raise ConfigError(f"{where}: token_env must name an environment variable")
            token = _env(os.environ if env is None else env, var.strip())
            if token is None:
                raise ConfigError(f"{where} reads its OAuth token from ${var.strip()}, which is not set")
        if not isinstance(token, str) or not token.strip():
            raise ConfigError(f"{where}: an oauth_token account needs token (a string) or token_env")
        return Account(username=None, secret=Secret(token.strip()), bearer=True, **common)
    secret = table.get("secret")
    if secret is None:
        raise ConfigError(f"{where} has no secret; store it again with: mpsql auth add {name} ...")
    if not isinstance(secret, str):
        raise ConfigError(f"{where}: secret must be a string")
    if kind == "service_account" and table.get("username") is None:
        raise ConfigError(f"{where}: a service_account needs a username")
    return Account(username=table.get("username"), secret=Secret(secret), **common)


def _table_project(where: str, table: Mapping[str, Any]) -> Any:
    """``project_id`` (mixpanel_data, mpsql) or ``default_project`` (mixpanel-headless: digits as text)."""
    pid = table.get("project_id")
    raw = table.get("default_project")
    if raw is None:
        return pid
    other = int(raw) if isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit() else raw
    if isinstance(other, bool) or not isinstance(other, int):
        raise ConfigError(f"{where}: default_project must be a project id (digits), not {_show(raw)}")
    if pid is not None and pid != other:
        raise ConfigError(f"{where}: project_id {_show(pid)} and default_project {_show(raw)} disagree; "
                          "keep one of them")
    return other


#: The keys of an account table mpsql writes; any other key of the table is another tool's and is kept.
_MANAGED_KEYS = ("type", "username", "secret", "token", "token_env", "project_id", "default_project", "region",
                 "api_url", "workspace_id")  # timezone and legacy_time, set by hand, are kept unless replaced


def _account_to_table(account: Account, old: Mapping[str, Any] | None, headless: bool) -> dict[str, Any]:
    """The ``[accounts.NAME]`` table for ``account``: the old table's foreign keys kept, then mpsql's.

    ``headless``: write mixpanel-headless's layout (``type``, ``default_project`` as text), else
    mixpanel_data's (``project_id``). A legacy project secret has no mixpanel-headless type, and an OAuth token
    has no mixpanel_data form: each is written in the one layout that can hold it.
    """
    table: dict[str, Any] = {k: v for k, v in (old or {}).items() if k not in _MANAGED_KEYS}
    if account.bearer:
        headless = True
        table["type"] = "oauth_token"
        table["token"] = account.secret.reveal()
    elif account.username is not None:
        if headless:
            table["type"] = "service_account"
        table["username"] = account.username
        table["secret"] = account.secret.reveal()
    else:
        headless = False
        table["secret"] = account.secret.reveal()
    if account.project_id is not None:
        if headless:
            table["default_project"] = str(account.project_id)
        else:
            table["project_id"] = account.project_id
    table["region"] = account.region
    if account.api_url is not None:
        table["api_url"] = account.api_url
    if account.workspace_id is not None:
        table["workspace_id"] = account.workspace_id
    if account.timezone is not None:
        table["timezone"] = account.timezone
    if account.legacy_time is not None:
        table["legacy_time"] = account.legacy_time
    return table


def _is_headless(doc: Mapping[str, Any]) -> bool:
    """Whether the file is in mixpanel-headless's layout: it has ``[active]`` or a typed account, or no account
    yet and no ``default`` (a new file is written in that layout)."""
    accounts = doc.get("accounts") or {}
    if "active" in doc or any(isinstance(t, dict) and "type" in t for t in accounts.values()):
        return True
    return not accounts and "default" not in doc


def _default_of(doc: Mapping[str, Any]) -> str | None:
    """The default account's name: ``default`` (mixpanel_data), else ``[active] account`` (mixpanel-headless)."""
    default = doc.get("default")
    if default is None and isinstance(doc.get("active"), dict):
        default = doc["active"].get("account")
    return default


def _set_default(doc: dict[str, Any], name: str, headless: bool) -> None:
    """Point the file's default at ``name`` in each place the file's layout keeps it."""
    active = doc.get("active") if isinstance(doc.get("active"), dict) else None
    if headless or active is not None:
        if active is None or active.get("account") != name:
            (doc.setdefault("active", {})).pop("workspace", None)
        doc.setdefault("active", {})["account"] = name
    if not headless or "default" in doc:
        doc["default"] = name


def _make_parent(path: Path) -> None:
    """Create the config file's directory (0700) if it is missing."""
    parent = path.parent
    if not parent.exists():
        os.makedirs(parent, mode=0o700, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(parent, 0o700)  # makedirs' mode is filtered by the umask


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``<path>.lock`` (0600, never a symlink) while the block runs.

    The lock file is never deleted: removing it would let a waiter lock an unlinked inode while a newcomer
    locks a fresh one. The lock goes with the descriptor, so a killed process never leaves it held.
    """
    _make_parent(path)
    lock_path = path.with_name(path.name + ".lock")
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(lock_path, flags, 0o600)
    except OSError as e:  # ELOOP: a symlink planted in its place
        raise ConfigError(f"cannot lock config file {path} (via {lock_path}): {e.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError(f"cannot lock config file {path}: {lock_path} is not a regular file")
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a 0600 temp file in the same directory, fsync and ``os.replace``."""
    parent = path.parent
    _make_parent(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    tmp = ""
    for _ in range(100):
        tmp = os.path.join(parent, f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o600)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover
        raise ConfigError(f"cannot create a temporary file next to {path}")
    try:
        with os.fdopen(fd, "wb") as f:
            if os.name != "nt":
                os.fchmod(f.fileno(), 0o600)
            f.write(text.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if os.name != "nt":
        with contextlib.suppress(OSError):
            dfd = os.open(parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)


class ConfigStore:
    """The accounts file: read (safely), list, add, remove, set the default. Each call re-reads the file."""

    def __init__(self, path: Path | str | None = None, *, env: Mapping[str, str] | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else config_path(env)

    def __repr__(self) -> str:
        return f"ConfigStore({str(self.path)!r})"

    # reading

    def exists(self) -> bool:
        return os.path.lexists(self.path)

    def _load(self) -> dict[str, Any]:
        return _read_config(self.path) or {}

    def names(self) -> list[str]:
        """Account names, in file order."""
        return list(self._load().get("accounts", {}))

    def default_name(self) -> str | None:
        """The ``default`` entry (else mixpanel-headless's ``[active] account``), or None."""
        return _default_of(self._load())

    def list_accounts(self) -> list[Account]:
        """Every account, in file order (validated; raises ConfigError naming a broken one)."""
        doc = self._load()
        # mixpanel-headless's browser logins keep their tokens in its own store: not accounts mpsql can use
        return [_with_active_view(doc, _account_from_table(n, t, self.path), self.path)
                for n, t in doc.get("accounts", {}).items() if t.get("type") != "oauth_browser"]

    def get(self, name: str) -> Account:
        """The named account; ConfigError listing the configured names if there is none."""
        doc = self._load()
        accounts = doc.get("accounts", {})
        if name not in accounts:
            raise ConfigError(f"no account named {name!r} in {self.path}; {_configured(accounts)}")
        return _account_from_table(name, accounts[name], self.path)

    # writing

    def _save(self, doc: dict[str, Any]) -> None:
        out: dict[str, Any] = {}
        if doc.get("default") is not None:
            out["default"] = doc["default"]
        out.update((k, v) for k, v in doc.items() if k not in ("default", "accounts"))
        out["accounts"] = doc.get("accounts", {})
        _write_atomic(self.path, tomli_w.dumps(out))

    def add(self, account: Account, make_default: bool = False) -> bool:
        """Store ``account`` under its name (replacing one of that name). Others are kept.

        The first account stored, or any with ``make_default``, becomes the default. Returns True if
        an account of that name was replaced.
        """
        if not _NAME_RE.match(account.name):
            raise ConfigError(
                f"invalid account name {account.name!r}: use letters, digits, '_', '-' or '.', "
                "starting with a letter or digit (at most 64 characters)"
            )
        with _locked(self.path):
            doc = self._load()
            headless = _is_headless(doc)
            accounts = doc.setdefault("accounts", {})
            replaced = account.name in accounts
            accounts[account.name] = _account_to_table(account, accounts.get(account.name), headless)
            default = _default_of(doc)
            if make_default or not default or default not in accounts:
                _set_default(doc, account.name, headless)
            self._save(doc)
        return replaced

    def remove(self, name: str) -> str | None:
        """Delete an account. If it was the default and one account remains, that one becomes the default.

        Returns the default account's name afterwards (None if there is none).
        """
        with _locked(self.path):
            doc = self._load()
            headless = _is_headless(doc)
            accounts = doc.get("accounts", {})
            if name not in accounts:
                raise ConfigError(f"no account named {name!r} in {self.path}; {_configured(accounts)}")
            del accounts[name]
            was_default = _default_of(doc) == name
            active = doc.get("active")
            if isinstance(active, dict) and active.get("account") == name:  # no pointer may dangle
                active.pop("account", None)
                active.pop("workspace", None)  # the data view chosen for that account
                if not active:
                    doc.pop("active")
            if doc.get("default") == name:
                doc.pop("default")
            if was_default and len(accounts) == 1:
                _set_default(doc, next(iter(accounts)), headless)
            self._save(doc)
        return _default_of(doc)

    def set_default(self, name: str) -> None:
        """Make ``name`` the default account."""
        with _locked(self.path):
            doc = self._load()
            accounts = doc.get("accounts", {})
            if name not in accounts:
                raise ConfigError(f"no account named {name!r} in {self.path}; {_configured(accounts)}")
            _set_default(doc, name, _is_headless(doc))
            self._save(doc)


def _configured(accounts: Mapping[str, Any]) -> str:
    if not accounts:
        return "no accounts are configured (add one with: mpsql auth add NAME ...)"
    return f"configured accounts: {', '.join(accounts)}"


# ---------------------------------------------------------------------------------------------------------
# Resolution


def _env(env: Mapping[str, str], key: str) -> str | None:
    """An environment variable, with empty or blank values counting as unset."""
    value = env.get(key)
    if value is None or not value.strip():
        return None
    return value.strip()


def _env_time(env: Mapping[str, str]) -> dict[str, Any]:
    """``MP_TIMEZONE`` and ``MP_LEGACY_TIME``, the environment's form of an account's ``timezone`` and
    ``legacy_time`` settings (what ``mpsql emulator --legacy-time`` prints for a shell)."""
    out: dict[str, Any] = {}
    zone = _env(env, "MP_TIMEZONE")
    if zone is not None:
        if not _known_zone(zone):  # named here: the account it overrides may hold a valid one
            raise ConfigError(f"MP_TIMEZONE must be an IANA time zone name such as 'America/Los_Angeles' or 'UTC', "
                              f"not {_show(zone)}")
        out["timezone"] = zone
    legacy = _env(env, "MP_LEGACY_TIME")
    if legacy is not None:
        flag = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(legacy.lower())
        if flag is None:
            raise ConfigError(f"MP_LEGACY_TIME must be true or false, not {_show(legacy)}")
        out["legacy_time"] = flag
    return out


def _env_region(env: Mapping[str, str]) -> str | None:
    region = _env(env, "MP_REGION")
    if region is not None and region.lower() not in REGIONS:
        raise ConfigError(f"MP_REGION must be one of {', '.join(REGIONS)}, not {_show(region)}")
    return region.lower() if region else None


def _env_api_url(env: Mapping[str, str]) -> str | None:
    """``MP_API_URL`` (mpsql) or ``MP_API_BASE_URL`` (Mixpanel's Python clients): one base URL."""
    url, base = _env(env, "MP_API_URL"), _env(env, "MP_API_BASE_URL")
    if url is not None and base is not None and url.rstrip("/") != base.rstrip("/"):
        raise ConfigError(f"MP_API_URL ({_show(url)}) and MP_API_BASE_URL ({_show(base)}) disagree; "
                          "set one of them")
    name = "MP_API_URL" if url is not None else "MP_API_BASE_URL"
    url = url or base
    if url is not None and not re.match(r"^https?://[^/\s]+", url):
        raise ConfigError(f"{name} must be an http:// or https:// URL, not {_show(url)}")
    return url


def _env_id(env: Mapping[str, str], key: str, what: str) -> int | None:
    raw = _env(env, key)
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) <= MAX_PROJECT_ID:
        raise ConfigError(f"{key} must be a positive integer ({what}), not {_show(raw)} (at most {MAX_PROJECT_ID})"
                          if what != "the project id" else
                          f"{key} must be a positive integer, not {_show(raw)} (at most {MAX_PROJECT_ID})")
    return int(raw)


def env_has_credentials(env: Mapping[str, str] | None = None) -> bool:
    """Whether the environment holds credentials (``MP_SECRET`` or ``MP_OAUTH_TOKEN``), which win over the file."""
    env = os.environ if env is None else env
    return _env(env, "MP_SECRET") is not None or _env(env, "MP_OAUTH_TOKEN") is not None


def account_from_env(env: Mapping[str, str] | None = None) -> Account:
    """The account the environment describes (``MP_SECRET`` and friends, else ``MP_OAUTH_TOKEN``)."""
    env = os.environ if env is None else env
    if _env(env, "MP_SECRET") is None and _env(env, "MP_OAUTH_TOKEN") is not None:
        project_id = _env_id(env, "MP_PROJECT_ID", "the project id")
        if project_id is None:
            raise ConfigError("MP_PROJECT_ID is not set: an OAuth token (MP_OAUTH_TOKEN) needs the project id "
                              "too, e.g. export MP_PROJECT_ID=12345 (Mixpanel: Project Settings)")
        return Account(name="env", username=None, secret=Secret(_env(env, "MP_OAUTH_TOKEN") or ""),
                       project_id=project_id, region=cast(Region, _env_region(env) or "us"),
                       api_url=_env_api_url(env), source="environment", bearer=True,
                       workspace_id=_env_id(env, "MP_WORKSPACE_ID", "a data view's id"), **_env_time(env))
    return _account_from_env(env)


def _account_from_env(env: Mapping[str, str]) -> Account:
    secret = _env(env, "MP_SECRET")
    assert secret is not None
    username = _env(env, "MP_USERNAME")
    project_id = _env_id(env, "MP_PROJECT_ID", "the project id")
    if username is not None and project_id is None:
        raise ConfigError(
            "MP_PROJECT_ID is not set: a service account (MP_USERNAME) needs the project id too, "
            "e.g. export MP_PROJECT_ID=12345 (Mixpanel: Project Settings). "
            "For a legacy project secret, unset MP_USERNAME."
        )
    return Account(
        name="env",
        username=username,
        secret=Secret(secret),
        project_id=project_id,
        region=cast(Region, _env_region(env) or "us"),
        api_url=_env_api_url(env),
        source="environment",
        workspace_id=_env_id(env, "MP_WORKSPACE_ID", "a data view's id"),
        **_env_time(env),
    )


def resolve_account(
    name: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    path: Path | None = None,
) -> Account:
    """Find the credentials to use.

    Order: ``name`` (an account in the file); else ``MP_SECRET`` (with ``MP_USERNAME``, ``MP_PROJECT_ID``,
    ``MP_REGION``, ``MP_API_URL``); else the account named by ``MP_ACCOUNT``; else the file's ``default``.
    ``MP_REGION``, ``MP_API_URL`` (or ``MP_API_BASE_URL``) and ``MP_WORKSPACE_ID``, when set, override the chosen
    account's region, base URL and data view. ``MP_OAUTH_TOKEN`` (with ``MP_PROJECT_ID``) stands in for
    ``MP_SECRET`` as a Bearer token; ``MP_SECRET`` wins when both are set.
    ``env`` defaults to ``os.environ``; ``path`` to ``$MP_CONFIG_PATH`` or ``~/.mp/config.toml``.
    Raises ConfigError saying what is missing and how to supply it.
    """
    env = os.environ if env is None else env
    store = ConfigStore(path if path is not None else config_path(env))

    if name is not None:
        account = _named(store, name, via=None, env=env)
    elif env_has_credentials(env):
        return account_from_env(env)
    else:
        if _env(env, "MP_USERNAME") is not None:
            raise ConfigError(
                "MP_USERNAME is set but MP_SECRET is not: set MP_SECRET (and MP_PROJECT_ID) too, "
                "or unset MP_USERNAME to use the config file"
            )
        chosen = _env(env, "MP_ACCOUNT")
        account = (_named(store, chosen, via="MP_ACCOUNT", env=env) if chosen is not None
                   else _default(store, env))

    overrides: dict[str, Any] = {}
    region = _env_region(env)
    if region is not None:
        overrides["region"] = region
    api_url = _env_api_url(env)
    if api_url is not None:
        overrides["api_url"] = api_url
    workspace = _env_id(env, "MP_WORKSPACE_ID", "a data view's id")
    if workspace is not None:
        overrides["workspace_id"] = workspace
    overrides.update(_env_time(env))
    return dataclasses.replace(account, **overrides) if overrides else account


def _named(store: ConfigStore, name: str, via: str | None, env: Mapping[str, str]) -> Account:
    prefix = f"MP_ACCOUNT is {name!r}, but " if via else ""
    doc = _read_config(store.path)
    if doc is None:
        raise ConfigError(
            f"{prefix}there is no config file at {store.path}, so no account named {name!r}. "
            f"Add it with: mpsql auth add {name} --username USER --project-id ID"
        )
    accounts = doc.get("accounts", {})
    if name not in accounts:
        raise ConfigError(
            f"{prefix}there is no account named {name!r} in {store.path}; {_configured(accounts)}"
        )
    return _with_active_view(doc, _account_from_table(name, accounts[name], store.path, env), store.path)


def _default(store: ConfigStore, env: Mapping[str, str]) -> Account:
    doc = _read_config(store.path)
    if doc is None:
        raise ConfigError(
            f"no Mixpanel credentials: MP_SECRET is not set and there is no config file at {store.path}. "
            f"To fix it:\n{_FIX_HINT}"
        )
    accounts = doc.get("accounts", {})
    default = _default_of(doc)
    if not accounts:
        raise ConfigError(
            f"no Mixpanel credentials: MP_SECRET is not set and {store.path} has no accounts. "
            f"To fix it:\n{_FIX_HINT}"
        )
    if default is None:
        raise ConfigError(
            f"no default account: MP_SECRET and MP_ACCOUNT are not set and {store.path} has no 'default' "
            "(nor [active] account); "
            f"configured accounts: {', '.join(accounts)}. "
            "Choose one with: mpsql auth default NAME (or set MP_ACCOUNT=NAME)"
        )
    if default not in accounts:
        raise ConfigError(
            f"the default account {default!r} in {store.path} does not exist; {_configured(accounts)}. "
            "Choose one with: mpsql auth default NAME"
        )
    return _with_active_view(doc, _account_from_table(default, accounts[default], store.path, env), store.path)


def _with_active_view(doc: Mapping[str, Any], account: Account, path: Path) -> Account:
    """``account`` with mixpanel-headless's ``[active] workspace`` as its data view, when it is the active account
    and has no ``workspace_id`` of its own."""
    active = doc.get("active")
    workspace = active.get("workspace") if isinstance(active, dict) and active.get("account") == account.name else None
    if workspace is None or account.workspace_id is not None:
        return account
    if isinstance(workspace, bool) or not isinstance(workspace, int) or not 0 < workspace <= MAX_PROJECT_ID:
        raise ConfigError(f"config file {path}: [active] workspace must be a data view's id (a positive integer)")
    return dataclasses.replace(account, workspace_id=workspace)
