"""Every example in sql/examples/ runs on the built-in demo project, and its live-versus-local checks agree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "sql" / "examples").glob("*.sql"))


def test_every_example_runs_and_its_twins_agree_with_the_live_reports(demo_days):
    assert {p.name for p in EXAMPLES} >= {"segmentation.sql", "funnel.sql", "retention.sql", "profiles.sql"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("MP_")}
    env["MP_CONFIG_PATH"] = os.environ["MP_CONFIG_PATH"]
    # One mpsql for all of them (-f repeated), as a user would chain them: one demo project to build, not four.
    files = [arg for p in EXAMPLES for arg in ("-f", str(p))]
    proc = subprocess.run([sys.executable, "-m", "mpsql", "--demo", "--format", "jsonl", *files],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert len(rows) > 20
    checks = [row["differing_rows"] for row in rows if "differing_rows" in row]
    assert checks == [0, 0, 0]
