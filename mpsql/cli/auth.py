"""``mpsql auth``: store, list, remove, choose and test Mixpanel accounts.

::

    mpsql auth add NAME --username USER --project-id ID [--region us|eu|in] [--api-url URL] [--default]
    mpsql auth add NAME --legacy [--region ...]          # a legacy project secret
    mpsql auth list [--format table|json]
    mpsql auth remove NAME
    mpsql auth default [NAME]
    mpsql auth test [NAME]

The secret is never a command-line argument (it would land in shell history and ``ps``): ``add`` asks for
it with a hidden prompt, or reads one line from stdin when stdin is not a terminal
(``printf '%s\\n' "$SECRET" | mpsql auth add prod --username sa.user --project-id 12345``).

Messages go to stderr, data to stdout. Exit codes: 0 ok, 1 error, 2 usage.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from typing import Any

from mpsql.api.regions import base_url
from mpsql.config import (
    MAX_PROJECT_ID,
    REGIONS,
    Account,
    ConfigStore,
    Secret,
    env_has_credentials,
    resolve_account,
)
from mpsql.errors import AuthError, ConfigError, MixpanelError, MpsqlError, TransportError

__all__ = ["check_credentials", "main"]

_PROG = "mpsql auth"


def check_credentials(account: Account, *, timeout: float = 30.0) -> dict[str, Any]:
    """``GET /api/app/me`` through the one HTTP client; the parsed JSON body on success.

    Raises AuthError (401/403), MixpanelError (other non-2xx) or TransportError. No message holds the secret.
    """
    from mpsql.api.client import MixpanelClient
    from mpsql.api.retry import RetryPolicy

    client = MixpanelClient(account, retry=RetryPolicy(max_attempts=1), idle_timeout=timeout)
    try:
        body = client.check_credentials()
    except ValueError:
        raise MixpanelError(200, "/me", "the response is not JSON") from None
    finally:
        client.close()
    if not isinstance(body, dict):
        raise MixpanelError(200, "/me", "the response is not a JSON object")
    return body


# ---------------------------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse that never calls sys.exit itself: usage errors become exit code 2 from main()."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise _Usage(f"{self.prog}: error: {message}")


class _Usage(Exception):
    pass


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=_PROG, description="Manage the Mixpanel accounts mpsql uses.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    add = sub.add_parser(
        "add",
        help="store an account (the secret is prompted for, or read from stdin)",
        description="Store an account. The secret is read from a hidden prompt, or as one line from "
        "stdin when stdin is not a terminal; it is never a command-line argument.",
    )
    add.add_argument("name", metavar="NAME")
    kind = add.add_mutually_exclusive_group()
    kind.add_argument("--username", "-u", help="service account username")
    kind.add_argument("--legacy", action="store_true", help="a legacy project API secret (no username)")
    add.add_argument("--project-id", "-p", type=_project_id, help="project id (required with --username)")
    add.add_argument("--region", "-r", choices=REGIONS, default="us", help="data residency (default: us)")
    add.add_argument("--api-url", help="one base URL for every API family (a proxy or the emulator)")
    add.add_argument("--workspace-id", type=_project_id, help="the data view (workspace) Query API calls use")
    add.add_argument("--default", action="store_true", help="make it the default account")

    ls = sub.add_parser("list", aliases=["ls"], help="list the stored accounts (never the secrets)")
    ls.add_argument("--format", choices=("table", "json"), default="table")

    rm = sub.add_parser("remove", aliases=["rm"], help="delete a stored account")
    rm.add_argument("name", metavar="NAME")

    default = sub.add_parser("default", help="set (or, without NAME, show) the default account")
    default.add_argument("name", metavar="NAME", nargs="?")

    test = sub.add_parser("test", help="check an account's credentials against Mixpanel (/api/app/me; a legacy "
                                       "project secret with the Query API's /events/names)")
    test.add_argument("name", metavar="NAME", nargs="?", help="default: the account mpsql would use")
    return parser


def _project_id(text: str) -> int:
    digits = text.strip()
    if not digits.isascii() or not digits.isdigit() or not 0 < int(digits) <= MAX_PROJECT_ID:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text[:40]!r} (at most {MAX_PROJECT_ID})")
    return int(digits)


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def _read_secret(name: str) -> str:
    stdin = sys.stdin
    try:
        if stdin is not None and stdin.isatty():
            secret = getpass.getpass(f"Secret for account {name!r} (input hidden): ")
        else:
            secret = stdin.readline() if stdin is not None else ""
        secret.encode("utf-8")  # under a C locale undecodable bytes arrive as surrogates instead of failing
    except UnicodeError:  # the error would quote the bytes: say what is wrong, never what was read
        raise ConfigError("the secret is not UTF-8 text; give the secret itself, e.g. "
                          "printf '%s\\n' \"$MP_SECRET\" | mpsql auth add NAME ...") from None
    secret = secret.strip()
    if not secret:
        raise ConfigError(
            "no secret given: type it at the prompt, or pipe it on stdin, e.g. "
            "printf '%s\\n' \"$MP_SECRET\" | mpsql auth add NAME ..."
        )
    return secret


def _cmd_add(args: argparse.Namespace, store: ConfigStore) -> int:
    if not args.username and not args.legacy:
        raise _Usage(
            f"{_PROG} add: error: give --username USER --project-id ID for a service account, "
            "or --legacy for a project API secret"
        )
    if args.username and args.project_id is None:
        raise _Usage(f"{_PROG} add: error: --project-id is required with --username")
    secret = _read_secret(args.name)
    account = Account(
        name=args.name,
        username=args.username if not args.legacy else None,
        secret=Secret(secret),
        project_id=args.project_id,
        region=args.region,
        api_url=args.api_url,
        workspace_id=args.workspace_id,
        source=f"config:{store.path}",
    )
    replaced = store.add(account, make_default=args.default)
    verb = "replaced" if replaced else "added"
    _err(f"{verb} account {account.name!r} ({account.describe()}) in {store.path}")
    if store.default_name() == account.name:
        _err(f"{account.name!r} is the default account")
    if account.is_legacy:
        _err("note: project API secrets are deprecated by Mixpanel; prefer a service account")
    _err(f"check it with: mpsql auth test {account.name}")
    return 0


def _cmd_list(args: argparse.Namespace, store: ConfigStore) -> int:
    accounts = store.list_accounts()
    default = store.default_name()
    rows = [
        {
            "name": a.name,
            "default": a.name == default,
            "username": a.username,
            "legacy": a.is_legacy,
            "kind": a.kind,
            "workspace_id": a.workspace_id,
            "project_id": a.project_id,
            "region": a.region,
            "api_url": a.api_url,
        }
        for a in accounts
    ]
    if args.format == "json":
        print(json.dumps({"path": str(store.path), "default": default, "accounts": rows}, indent=2))
    elif rows:
        header = ["", "NAME", "USERNAME", "PROJECT_ID", "REGION", "API_URL"]
        table = [header] + [
            [
                "*" if r["default"] else "",
                r["name"],
                r["username"] if r["username"] else "(OAuth token)" if r["kind"] == "oauth_token"
                else "(project secret)",
                "" if r["project_id"] is None else str(r["project_id"]),
                r["region"],
                r["api_url"] or "",
            ]
            for r in rows
        ]
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        for row in table:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if not rows:
        _err(f"no accounts in {store.path}; "
             "add one with: mpsql auth add NAME --username USER --project-id ID")
    if _secret_env_set():
        var = "MP_SECRET" if os.environ.get("MP_SECRET", "").strip() else "MP_OAUTH_TOKEN"
        _err(f"note: {var} is set, so mpsql uses the credentials from the environment, not the default")
    return 0


def _secret_env_set() -> bool:
    return env_has_credentials()


def _cmd_remove(args: argparse.Namespace, store: ConfigStore) -> int:
    was_default = store.default_name() == args.name
    new_default = store.remove(args.name)
    _err(f"removed account {args.name!r} from {store.path}")
    if was_default:
        if new_default:
            _err(f"{new_default!r} is now the default account")
        elif store.names():
            _err("there is no default account now; choose one with: mpsql auth default NAME")
    return 0


def _cmd_default(args: argparse.Namespace, store: ConfigStore) -> int:
    if args.name is None:
        name = store.default_name()
        if name is None:
            _err(f"no default account in {store.path}")
            return 1
        print(name)
        return 0
    store.set_default(args.name)
    _err(f"{args.name!r} is now the default account")
    return 0


def _cmd_test(args: argparse.Namespace, store: ConfigStore) -> int:
    account = resolve_account(args.name)
    base = base_url(account.region, "app", account.api_url).removesuffix("/api/app")
    _err(f"testing account {account.name!r} ({account.describe()}; from {account.source}) at {base}")
    if account.is_legacy:
        return _test_legacy(account, base)
    try:
        me = check_credentials(account)
    except AuthError as e:
        _err(f"FAILED: HTTP {e.status}: {e.message}")
        if account.is_legacy:
            _err(
                "hint: Mixpanel's App API (/api/app/me) accepts service accounts; a legacy project secret "
                "may still work for export and the Query API"
            )
        elif e.status == 401:
            _err(
                f"hint: check the username and secret, and that the project's data residency is "
                f"{account.region!r} (credentials sent to another region's host are refused with 401)"
            )
        return 1
    except (MixpanelError, TransportError) as e:
        _err(f"FAILED: {e}")
        return 1
    print(f"OK: account {account.name!r} authenticated at {base}")
    for line in _summarize_me(me, account):
        print(line)
    return 0


def _test_legacy(account: Account, base: str) -> int:
    """A legacy project secret cannot use the App API's /me: ask the Query API for one event name instead."""
    from mpsql.api.client import MixpanelClient
    from mpsql.api.retry import RetryPolicy

    client = MixpanelClient(account, retry=RetryPolicy(max_attempts=1), idle_timeout=30.0)
    try:
        client.get_json("query", "/events/names", {"type": "general", "limit": 1})
    except (MixpanelError, TransportError) as e:
        _err(f"FAILED: {e}")
        if isinstance(e, AuthError):
            _err("hint: check the project secret, and that the project's data residency is "
                 f"{account.region!r}")
        return 1
    finally:
        client.close()
    print(f"OK: account {account.name!r} (a legacy project secret) can query its project at {base} "
          "(checked with /events/names)")
    return 0


def _summarize_me(me: dict[str, Any], account: Account) -> list[str]:
    """Human lines from a /me body; tolerant of shape (Mixpanel wraps it in {"results": ...})."""
    info = me.get("results", me)
    if not isinstance(info, dict):
        return []
    lines = []
    who = [str(info[k]) for k in ("user_name", "name", "user_email", "email") if info.get(k)]
    if who:
        lines.append("user: " + " ".join(dict.fromkeys(who)))
    elif info.get("user_id") is not None:
        lines.append(f"user id: {info['user_id']}")
    projects = info.get("projects")
    if account.project_id is not None and isinstance(projects, dict):
        project = projects.get(str(account.project_id))
        if project is None:
            lines.append(f"warning: project {account.project_id} is not among this account's projects")
        else:
            label = project.get("name") if isinstance(project, dict) else None
            lines.append(f"project {account.project_id}" + (f": {label}" if label else ""))
    views = info.get("workspaces")
    if account.workspace_id is not None and isinstance(views, dict):
        view = views.get(str(account.workspace_id))
        if view is None:
            known = ", ".join(sorted(map(str, views))) or "none"
            lines.append(f"warning: data view {account.workspace_id} is not among the account's data views "
                         f"(ids: {known})")
        else:
            label = view.get("name") if isinstance(view, dict) else None
            lines.append(f"data view {account.workspace_id}" + (f": {label}" if label else ""))
    if not lines:
        keys = ", ".join(sorted(map(str, info)))
        if keys:
            lines.append(f"/me returned: {keys}")
    return lines


_COMMANDS = {
    "add": _cmd_add,
    "list": _cmd_list,
    "ls": _cmd_list,
    "remove": _cmd_remove,
    "rm": _cmd_remove,
    "default": _cmd_default,
    "test": _cmd_test,
}


def main(argv: list[str] | None = None) -> int:
    """Run ``mpsql auth``; ``argv`` is what follows ``auth``. Returns 0 ok, 1 error, 2 usage."""
    parser = _build_parser()
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    except _Usage as e:
        _err(str(e))
        return 2
    except SystemExit as e:  # --help
        return e.code if isinstance(e.code, int) else 0
    try:
        return _COMMANDS[args.command](args, ConfigStore())
    except _Usage as e:
        _err(str(e))
        return 2
    except MpsqlError as e:
        _err(f"{_PROG}: error: {e}")
        return 1
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except EOFError:
        _err(f"{_PROG}: error: no secret given")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
