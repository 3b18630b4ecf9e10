"""Ctrl-C during a long export stops the statement and its downloads, and the session goes on."""

from __future__ import annotations

import os
import signal
import threading
import time

from mpsql.cli.runner import EXIT_INTERRUPTED, EXIT_OK
from mpsql.demo import demo_emulator

# Two requests: a one-day probe, then the other 89 days (about 240,000 events) in one long response.
LONG_EXPORT = "SELECT count(*) AS n FROM mp_export(current_date - 90, current_date - 1, store := 'off');"


def test_ctrl_c_stops_a_long_export_and_its_http_transfers(make_repl, demo_days):
    repl = make_repl(demo=True, account=None)
    emulator = demo_emulator()

    def exports() -> int:
        return sum(1 for r in emulator.requests if r.path.endswith("/export"))

    before = exports()

    def press_ctrl_c() -> None:  # as the terminal would: SIGINT to the process, while the long response streams
        deadline = time.monotonic() + 60
        while exports() < before + 1:
            if time.monotonic() > deadline:
                return
            time.sleep(0.01)
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    assert repl.submit(LONG_EXPORT) == EXIT_INTERRUPTED
    presser.join()
    assert "mpsql: interrupted" in repl.err.getvalue()
    assert "│ n" not in repl.stdout.getvalue()

    # The export's threads end with the statement (the long transfer is stopped, not waited for).
    deadline = time.monotonic() + 10
    while any(t.name.startswith("mpsql-export") for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(t.name.startswith("mpsql-export") for t in threading.enumerate())
    # The emulator logs a request when its response ends, so the one cut short shows up a little later.
    counts = [exports()]
    while len(counts) < 3 or counts[-1] != counts[-3]:
        time.sleep(0.25)
        counts.append(exports())
    assert counts[-1] - before <= 2  # the probe and the long window: nothing more was asked for

    assert repl.submit("SELECT 42 AS answer;") == EXIT_OK
    assert "│      42 │" in repl.stdout.getvalue()
