"""Every line of the README runs: its SQL snippets, its Python snippets and its CLI commands, on the demo project.

How the README's fenced blocks are read:

- ```` ```sql ```` blocks run, statement by statement and in README order, on one ``mpsql.connect(demo=True)``
  connection (later snippets use the tables earlier ones made, as a reader following along would).
- ```` ```python ```` blocks run with ``exec``, in README order in one namespace, in a scratch folder.
- ```` ```sh ```` blocks: every ``mpsql ...`` command runs in a shell, in README order, each block in a fresh
  scratch folder; the other commands of a line (``python3 -m venv``, ``pip install``...) must be the setup steps
  listed in ``SETUP``.
- A block right after ``<!-- readme: not run (REASON) -->`` is not run (another engine's code); the reason is
  required. A block after ``<!-- readme: synopsis -->`` is a usage synopsis: each ``--option`` it names must be
  one ``mpsql --help`` (or the subcommand's help) knows.

Nothing reaches Mixpanel: commands without ``--demo`` use an account ``prod`` (the default of a scratch config
file) and ``MP_API_URL``, both pointing at this process's demo emulator, and the README's placeholders
(``sa.user``, project ``12345``, the store folder ``~/.local/share/mpsql/store/us-12345``, port 8123) are
replaced by the demo's values (``PLACEHOLDERS``).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MARKER = re.compile(r"<!--\s*readme:\s*(not run \((?P<reason>[^)]+)\)|(?P<synopsis>synopsis))\s*-->")
SETUP = ("python3 -m venv .venv", ". .venv/bin/activate", "pip install", "python -m pytest")
BIN = str(Path(sys.executable).parent)


@dataclass
class Block:
    lang: str
    line: int  # README line of the block's first code line
    text: str
    not_run: str | None = None
    synopsis: bool = False


def readme_blocks(text: str) -> list[Block]:
    """The README's fenced blocks with their language, first line and marker."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        j = i + 1
        while not lines[j].startswith("```"):
            j += 1
        before = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        marker = MARKER.search(before)
        blocks.append(Block(fence.group(1), i + 2, "\n".join(lines[i + 1:j]) + "\n",
                            not_run=marker.group("reason") if marker else None,
                            synopsis=bool(marker and marker.group("synopsis"))))
        i = j + 1
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def demo(_demo_days_made):
    """The demo emulator of this process, and a scratch home whose config's default account ``prod`` is it."""
    from mpsql.demo import demo_account, demo_emulator

    return demo_emulator(), demo_account()


def placeholders(emu, store_folder: str | None = None) -> dict[str, str]:
    creds = emu.credentials
    found = {"sa.user": creds.username, "--project-id 12345": f"--project-id {creds.project_id}",
             "--port 8123": "--port 0"}
    if store_folder:
        found["~/.local/share/mpsql/store/us-12345"] = store_folder
    return found


def substitute(text: str, table: dict[str, str]) -> str:
    for placeholder, value in table.items():
        text = text.replace(placeholder, value)
    return text


def write_config(folder: Path, emu, *, with_prod: bool = True) -> Path:
    path = folder / "config.toml"
    creds = emu.credentials
    body = "" if not with_prod else (
        f'default = "prod"\n\n[accounts.prod]\nusername = "{creds.username}"\nsecret = "{creds.secret}"\n'
        f'project_id = {creds.project_id}\nregion = "us"\napi_url = "{emu.url}"\n')
    path.write_text(body, encoding="utf-8")
    path.chmod(0o600)
    return path


def test_the_readme_has_runnable_blocks_of_each_kind_and_every_skipped_block_says_why():
    kinds = {(b.lang, b.not_run is None and not b.synopsis) for b in BLOCKS}
    assert {("sql", True), ("python", True), ("sh", True)} <= kinds
    assert {b.lang for b in BLOCKS} <= {"sql", "python", "sh", ""}  # "" is the layout tree, not code
    skipped = [b for b in BLOCKS if b.not_run]
    assert skipped and all(len(b.not_run.strip()) > 10 for b in skipped)
    assert any("Spark" in b.text for b in skipped) and any("Trino" in b.text for b in skipped)


def test_every_sql_snippet_of_the_readme_runs_on_the_demo(demo, tmp_path):
    import mpsql

    emu, _ = demo
    con = mpsql.connect(demo=True, notice=lambda message: None)
    ran = 0
    try:
        for block in BLOCKS:
            if block.lang != "sql" or block.not_run:
                continue
            folder = None
            if "~/.local/share/mpsql/store" in block.text:  # the store folder: the demo project's
                rows = con.execute("SELECT path FROM mp_store() LIMIT 1").fetchall()
                assert rows, "the store section's snippets ran first and held days"
                folder = str(Path(rows[0][0]).parents[2])
            text = substitute(block.text, placeholders(emu, folder))
            statements = con.extract_statements(text)
            lines = _lines(text, statements)
            for statement, line in zip(statements, lines, strict=True):
                try:
                    con.execute(statement).fetchall()
                except Exception as exc:
                    pytest.fail(f"README.md:{block.line + line - 1}: {statement.query.strip()}\n{exc}")
                ran += 1
    finally:
        con.close()
    assert ran >= 12


def _lines(text, statements):
    from mpsql.cli.main import statement_lines

    return [line or 1 for line in statement_lines(text, statements)]


def test_every_python_snippet_of_the_readme_runs(demo, tmp_path, monkeypatch):
    emu, _ = demo
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MP_CONFIG_PATH", str(write_config(tmp_path, emu)))
    monkeypatch.setenv("MP_API_URL", emu.url)
    ran = 0
    scope: dict = {}  # one session, as a reader following along: later snippets use earlier ones' names
    try:
        for block in BLOCKS:
            if block.lang != "python" or block.not_run:
                continue
            try:
                exec(compile(block.text, f"README.md:{block.line}", "exec"), scope)
            except Exception as exc:
                pytest.fail(f"README.md:{block.line}: {type(exc).__name__}: {exc}")
            ran += 1
    finally:
        for value in scope.values():
            if type(value).__name__ == "DuckDBPyConnection":
                value.close()
    assert ran >= 3


def shell_commands(block: Block) -> list[tuple[int, str]]:
    """``(README line, command)`` for each mpsql command of a sh block; other commands must be SETUP steps."""
    commands = []
    for offset, line in enumerate(block.text.splitlines()):
        if not line.strip():
            continue
        for part in line.split(" && "):
            part = part.strip()
            words = shlex.split(part, comments=True)
            if "mpsql" in words:
                commands.append((block.line + offset, part))
            else:
                assert part.startswith(SETUP), f"README.md:{block.line + offset}: not an mpsql command: {part}"
    return commands


def test_every_cli_command_of_the_readme_runs(demo, demo_days, tmp_path):
    """Blocks run at once, each in its own scratch folder and config; a block's commands run in order."""
    from concurrent.futures import ThreadPoolExecutor

    emu, _ = demo
    blocks = [(i, b) for i, b in enumerate(BLOCKS) if b.lang == "sh" and not b.not_run and not b.synopsis]
    with ThreadPoolExecutor(max_workers=len(blocks)) as pool:
        ran = sum(pool.map(lambda ib: _run_block(ib[1], emu, tmp_path / f"block{ib[0]}"), blocks))
    assert ran >= 12


def _run_block(block: Block, emu, home: Path) -> int:
    home.mkdir()
    text = substitute(block.text, placeholders(emu))
    creates_prod = "auth add prod" in text
    env = {k: v for k, v in os.environ.items() if not k.startswith("MP_")}
    env.update(MP_CONFIG_PATH=str(write_config(home, emu, with_prod=not creates_prod)), MP_API_URL=emu.url,
               PATH=BIN + os.pathsep + env.get("PATH", ""), HOME=str(home))
    commands = shell_commands(Block(block.lang, block.line, text))
    for line, command in commands:
        if command.startswith("mpsql emulator"):
            _run_emulator(command, env, home, line)
            continue
        secret = emu.project_secret if "--legacy" in command else emu.credentials.secret
        proc = subprocess.run(["bash", "-c", command], cwd=home, env=env, input=secret + "\n",
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"README.md:{line}: {command}\n{proc.stderr}"
    return len(commands)


def _run_emulator(command: str, env: dict, home: Path, line: int) -> None:
    """A server runs until stopped: it must print the settings to use, then it is stopped."""
    proc = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=home, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        printed = [proc.stdout.readline() for _ in range(4)]
        assert any("MP_API_URL=" in p for p in printed), f"README.md:{line}: {command} printed {printed}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_every_option_of_the_cli_synopsis_exists():
    from mpsql.cli.main import _parser

    known = {opt for action in _parser()._actions for opt in action.option_strings}
    synopses = [b for b in BLOCKS if b.synopsis]
    assert synopses
    named = {opt for b in synopses for opt in re.findall(r"(--?[a-z][a-z-]*)", b.text)}
    assert {"--format", "--max-rows", "--demo", "--account", "-c", "-f"} <= named
    assert named <= known
    assert "line" in re.search(r"--format ([a-z|]+)", synopses[0].text).group(1).split("|")
    for sub in ("auth", "sync", "store", "emulator"):
        assert sub in synopses[0].text


def test_a_failing_statement_of_a_file_is_named_by_file_and_line(tmp_path):
    script = tmp_path / "report.sql"
    script.write_text("SELECT 1;\n\n-- the broken one\nSELECT\n  no_such_column;\nSELECT 3;\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "mpsql", "--format", "csv", "-f", str(script)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == ["1", "1"]
    assert proc.stderr.startswith(f"Error: {script}:4: Binder Error: ")
