"""`initlab --help` and the API commands start without torch or the web stack, and the help
documents the exit codes. A module check, not a timing: timings vary with the machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.initlab.conftest import REPO, initlab

HEAVY = ("torch", "fastapi", "sqlalchemy", "streamlit", "scipy", "matplotlib", "celery")
# Build every command's click object, as `--help` of any command does, then list what loaded.
PROBE = """
import json, sys
from typer.main import get_command
from initlab.cli import app
group = get_command(app)
for name in group.list_commands(None):
    group.get_command(None, name)
import initlab.commands.experiments, initlab.commands.watch, apiclient
print(json.dumps(sorted(sys.modules)))
"""


def test_building_the_cli_imports_no_heavy_module() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    probe = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    loaded = {name.split(".")[0] for name in json.loads(probe.stdout)}
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_help_documents_the_exit_codes_and_every_api_command() -> None:
    shown = initlab("--help", env={"COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.split())
    for code in ("0 ok", "1 the operation failed", "2 bad usage or an invalid spec",
                 "3 a server (the API; the database for db upgrade) is unreachable",
                 "130 interrupted"):
        assert code in text
    for command in ("submit", "status", "cancel", "retry", "watch", "logs", "archive"):
        assert f" {command} " in text, command


def test_the_preset_list_prints_json_for_scripts() -> None:
    presets = json.loads(initlab("presets", "list", "--json").stdout)
    assert {"name": "demo-digits"}.items() <= presets[0].items() and presets[0]["summary"]
