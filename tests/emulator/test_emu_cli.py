"""``mpsql emulator``: every option explains itself with its default, and the printed settings paste into a shell."""

from __future__ import annotations

import subprocess

from mpsql.emulator.__main__ import build_parser, settings_lines


def test_every_option_has_help_text_naming_its_default():
    options = [a for a in build_parser()._actions if a.option_strings and a.dest != "help"]
    assert len(options) == 14
    for action in options:
        assert action.help and "(default: " in action.help, action.option_strings


def test_today_says_what_it_means():
    today = next(a for a in build_parser()._actions if a.dest == "today")
    assert "data ends the day before" in today.help and "in the future" in today.help


def test_printed_settings_are_export_lines_a_shell_accepts_as_they_are(emulator):
    lines = settings_lines(emulator)
    assert [line.split("=", 1)[0] for line in lines] == [
        "export MP_API_URL", "export MP_USERNAME", "export MP_SECRET", "export MP_PROJECT_ID",
        "unset MP_TIMEZONE MP_LEGACY_TIME"]  # a UTC project: what a legacy emulator's lines set does not linger
    script = "export MP_LEGACY_TIME=true\n" + "\n".join(lines) + '\ntest -z "${MP_LEGACY_TIME-}"'
    subprocess.run(["bash", "-c", script], check=True)
    script = "\n".join(lines) + '\nprintf "%s|%s|%s|%s" "$MP_API_URL" "$MP_USERNAME" "$MP_SECRET" "$MP_PROJECT_ID"'
    shown = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
    creds = emulator.credentials
    assert shown == f"{emulator.url}|{creds.username}|{creds.secret}|{creds.project_id}"
