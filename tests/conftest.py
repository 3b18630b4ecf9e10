"""Shared fixtures: one emulator for the run (loopback, port 0), reset before every test that uses it."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

import pytest

from mpsql.api.ratelimit import RateLimits
from mpsql.api.retry import RetryPolicy
from mpsql.config import Account, Secret

# Tests pin the emulator's calendar so expected values never depend on today's date.
TODAY = dt.date(2024, 4, 1)
NOW = dt.datetime(2024, 4, 1, 12, 0, tzinfo=dt.UTC).timestamp()  # noon of TODAY: when tests' days are fetched

# Keep the tests from ever reading a developer's real accounts file or environment.
for _var in ("MP_USERNAME", "MP_SECRET", "MP_PROJECT_ID", "MP_REGION", "MP_ACCOUNT", "MP_API_URL",
             "MP_API_BASE_URL", "MP_OAUTH_TOKEN", "MP_WORKSPACE_ID"):
    os.environ.pop(_var, None)
os.environ["MP_CONFIG_PATH"] = os.path.join(os.path.dirname(__file__), "fixtures", "no-such-config.toml")

# Nothing a test caches may land in a developer's ~/.cache; each test also gets a fresh folder (below).
os.environ["MPSQL_CACHE_DIR"] = _PROCESS_CACHE = tempfile.mkdtemp(prefix="mpsql-test-cache-")
os.environ["MPSQL_STORE_DIR"] = tempfile.mkdtemp(prefix="mpsql-test-store-")
for _var in ("MPSQL_CACHE_TTL", "MPSQL_STORE_LOOKBACK_DAYS", "MPSQL_STORE_FRESH_SECONDS"):
    os.environ.pop(_var, None)


@pytest.fixture(autouse=True)
def _fresh_cache(tmp_path_factory, monkeypatch):
    """Every test starts with an empty response cache and an empty event store."""
    monkeypatch.setenv("MPSQL_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("MPSQL_STORE_DIR", str(tmp_path_factory.mktemp("store")))


@pytest.fixture(scope="session")
def _demo_days_made(tmp_path_factory, worker_id) -> Path:
    """The demo project's generated days on disk, made once for the whole run (the key folder holding them).

    Under xdist the workers share one folder and fill it from opposite ends (a day is written to a scratch
    name and renamed into place, so a day another worker wrote is read back, never made twice)."""
    from mpsql.demo import DEMO_SEED
    from mpsql.emulator import Emulator

    root = _shared_folder(tmp_path_factory, worker_id, "demo-days")
    dataset = Emulator(seed=DEMO_SEED, day_folder=root).dataset  # the demo's parameters, not started
    dates = dataset.dates(dataset.first_date, dataset.last_date)
    for date in dates[::-1] if worker_id.endswith(("1", "3", "5", "7", "9")) else dates:
        dataset.day(date)
    assert dataset.folder is not None
    _link_demo_days(dataset.folder, Path(_PROCESS_CACHE))  # for a demo started outside a test (module fixtures)
    return dataset.folder


def _link_demo_days(made: Path, cache: Path) -> None:
    held = cache / "demo-days" / made.name
    if held.exists():
        return
    held.mkdir(mode=0o700, parents=True)
    held.parent.chmod(0o700)
    for day in made.iterdir():
        if day.suffix == ".day":
            os.link(day, held / day.name)


@pytest.fixture
def demo_days(_fresh_cache, _demo_days_made) -> None:
    """This test's cache folder already holds today's demo days, as after an earlier ``mpsql --demo`` today: the
    demo (in this process or a child) reads them instead of generating them (hard links, not copies)."""
    _link_demo_days(_demo_days_made, Path(os.environ["MPSQL_CACHE_DIR"]))


FAST_RETRY = RetryPolicy(max_attempts=4, base=0.01, cap=0.05, jitter=0.01, max_retry_after=0.05)


def _shared_folder(tmp_path_factory, worker_id: str, name: str) -> Path:
    """A folder of the run shared by all xdist workers (the base temp folder's parent under xdist)."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if worker_id != "master" else base) / name


@pytest.fixture(scope="session")
def emulator_session(tmp_path_factory, worker_id):
    from mpsql.emulator import Emulator, ServerLimits

    # Each day is generated once for the run: kept in memory, and on disk for the other worker (the same bytes
    # as the generator's own, see mpsql/emulator/daycache.py), instead of re-generated when a 40-day LRU drops it.
    emu = Emulator(seed=7, today=TODAY, days=90, users=2000, rate_limits=ServerLimits.unlimited(),
                   day_folder=_shared_folder(tmp_path_factory, worker_id, "session-days"))
    with emu:
        yield emu


@pytest.fixture
def emulator(emulator_session):
    emulator_session.reset()
    from mpsql.emulator import ServerLimits

    emulator_session.rate_limits = ServerLimits.unlimited()
    emulator_session.latency = 0.0
    yield emulator_session
    emulator_session.reset()
    emulator_session.rate_limits = ServerLimits.unlimited()  # module-scoped users of the session emulator
    emulator_session.latency = 0.0


@pytest.fixture
def account(emulator) -> Account:
    creds = emulator.credentials
    return Account(name="test", username=creds.username, secret=Secret(creds.secret),
                   project_id=creds.project_id, region="us", api_url=emulator.url, source="test")


@pytest.fixture
def notices() -> list[str]:
    return []


@pytest.fixture
def con(account, notices):
    import mpsql

    connection = mpsql.connect(account=account, rate_limits=RateLimits.unlimited(), retry=FAST_RETRY,
                               notice=notices.append)
    from mpsql.connection import context_of

    context_of(connection).today = lambda: TODAY
    context_of(connection).now = lambda: NOW
    yield connection
    connection.close()


OPENAPI = os.path.join(os.path.dirname(__file__), "fixtures", "openapi")


def openapi_example(spec: str, method: str, path: str) -> object:
    """The body of Mixpanel's documented response example for ``method path`` (tests/fixtures/openapi)."""
    import json

    with open(os.path.join(OPENAPI, "index.json"), encoding="utf-8") as f:
        index = json.load(f)["examples"]
    row = next(r for r in index if (r["spec"], r["method"], r["path"]) == (spec, method, path))
    with open(os.path.join(OPENAPI, row["file"]), encoding="utf-8") as f:
        return json.load(f)["body"]


@pytest.fixture
def serve_example(emulator):
    """``serve_example(spec, method, path, family='query', at=None)`` makes the emulator answer ``path`` with
    Mixpanel's documented example, as-is; the emulator's own routes come back after the test."""
    from mpsql.emulator.proto import Response, Route

    saved = dict(emulator.routes)

    def serve(spec: str, method: str, path: str, family: str = "query", at: str | None = None) -> object:
        body = openapi_example(spec, method, path)
        route = Route(lambda emu, req: Response(json=body), family, ("GET", "POST"))
        targets = [at] if at else [f"/api/query{path}", f"/api/2.0{path}"]
        for target in targets:
            emulator.add_route(target, route)
        return body

    yield serve
    emulator.routes.clear()
    emulator.routes.update(saved)


# The modules that take longest (measured with --durations), started first so that no long module is left running
# alone at the end of a two-worker run; every other module keeps its collection order after them.
SLOW_FIRST = (
    "tests/integration/test_cli.py", "tests/integration/test_store_processes.py", "tests/integration/test_readme.py",
    "tests/integration/test_sql_examples.py", "tests/integration/test_local_twins.py",
    "tests/integration/test_export.py", "tests/integration/test_store_requests.py",
    "tests/integration/test_reports_vs_export.py", "tests/properties/test_export_body.py",
    "tests/integration/test_demo_range.py", "tests/integration/test_export_faults.py",
    "tests/integration/test_hangs.py", "tests/properties/test_export_hostile_body.py",
)


def pytest_collection_modifyitems(config, items) -> None:
    """Slow modules first (see ``SLOW_FIRST``), in-module order unchanged."""
    rank = {path: i for i, path in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
