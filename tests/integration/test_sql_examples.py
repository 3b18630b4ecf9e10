"""Every example in sql/examples/ runs on the built-in demo project, and its live-versus-local checks agree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "sql" / "examples").glob("*.sql"))


def test_every_example_runs_and_its_twins_agree_with_the_live_reports():
    assert {p.name for p in EXAMPLES} >= {"segmentation.sql", "funnel.sql", "retention.sql", "profiles.sql"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("MP_")}
    env["MP_CONFIG_PATH"] = os.environ["MP_CONFIG_PATH"]
    procs = {p.name: subprocess.Popen([sys.executable, "-m", "mpsql", "--demo", "--format", "jsonl", "-f", str(p)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for p in EXAMPLES}
    checks = 0
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, f"{name}: {err}"
        rows = [json.loads(line) for line in out.splitlines() if line.strip()]
        assert rows, name
        for row in rows:
            if "differing_rows" in row:
                assert row["differing_rows"] == 0, name
                checks += 1
    assert checks == 3
