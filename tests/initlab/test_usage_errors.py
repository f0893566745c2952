"""Every command's usage errors are one `initlab: error:` line with a `--help` hint, exit 2."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer._click.types import IntParamType  # typer 0.27 vendors click

from initlab.cli import app, main
from tests.initlab.conftest import initlab, one_error_line

Words = tuple[str, ...]


def leaf_commands(command: Any, path: Words = ()) -> Iterator[tuple[Words, Any]]:
    """(words, command) for every command that runs, sub-commands of groups included."""
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        yield path, command
        return
    for name, sub in subcommands.items():
        yield from leaf_commands(sub, (*path, name))


COMMANDS = dict(leaf_commands(typer.main.get_command(app)))


def usage_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line that `initlab ARGS` prints, asserting exit 2 and nothing else."""
    with pytest.raises(SystemExit) as exited:
        main(args)
    printed = capsys.readouterr()
    assert exited.value.code == 2, (args, printed.err)
    assert printed.out == "" and "Traceback" not in printed.err
    lines = printed.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("initlab: error: "), printed.err
    return lines[0]


def test_the_walk_finds_every_command() -> None:
    words = {" ".join(path) for path in COMMANDS}
    assert {"run", "submit", "import", "up", "users add", "token revoke", "db upgrade"} <= words
    assert len(words) >= 25


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_an_unknown_flag_is_one_line_with_the_commands_help(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    line = usage_error([*path, "--no-such-flag"], capsys)
    assert "No such option: --no-such-flag" in line
    assert line.endswith(f"(see 'initlab {' '.join(path)} --help')")


REQUIRED = [path for path, command in COMMANDS.items() if any(p.required for p in command.params)]


@pytest.mark.parametrize("path", REQUIRED, ids=" ".join)
def test_a_missing_argument_or_option_is_one_line_naming_it(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    first_missing = next(p for p in COMMANDS[path].params if p.required)
    line = usage_error(list(path), capsys)
    assert "Missing" in line and f"initlab {' '.join(path)} --help" in line
    if first_missing.param_type_name == "option":
        assert first_missing.opts[0] in line


INTEGER_OPTIONS = [
    (path, param.opts[0])
    for path, command in COMMANDS.items()
    for param in command.params
    if param.param_type_name == "option" and isinstance(param.type, IntParamType)
]


@pytest.mark.parametrize("path, option", INTEGER_OPTIONS, ids=lambda v: str(v))
def test_a_bad_value_is_one_line_naming_the_option_and_the_value_expected(
    path: tuple[str, ...], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = usage_error([*path, option, "twelve"], capsys)
    assert f"Invalid value for '{option}': 'twelve' is not a valid int" in line


def test_unknown_commands_and_top_level_flags_too(capsys: pytest.CaptureFixture[str]) -> None:
    assert "No such command 'frobnicate'" in usage_error(["frobnicate"], capsys)
    assert "(see 'initlab --help')" in usage_error(["--bogus"], capsys)
    assert "(see 'initlab users --help')" in usage_error(["users", "frobnicate"], capsys)


def test_the_installed_entry_point_prints_the_same_single_line() -> None:
    result = initlab("run", "demo-digits")
    assert result.returncode == 2
    assert one_error_line(result) == (
        "initlab: error: Missing option '--out'. (see 'initlab run --help')"
    )
    assert result.stdout == ""
