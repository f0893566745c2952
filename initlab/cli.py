"""Entry point of the `initlab` command: gathers the command modules and maps errors to exits.

Command modules import torch, the web stack and the store inside their command functions, so
`initlab --help` and the commands that only talk to the API start in a fraction of a second.
"""

import importlib
import pkgutil
import sys

import typer

from apiclient import ApiError, Unreachable
from initlab import commands
from initlab.exits import EPILOG, FAILED, INTERRUPTED, USAGE, api_exit

app = typer.Typer(
    help="InitLab: paired, repeated initialisation experiments.",
    epilog=EPILOG,
    no_args_is_help=True,
)

for module in pkgutil.iter_modules(commands.__path__):
    importlib.import_module(f"{commands.__name__}.{module.name}").register(app)

# Bad input that core raises: (module, error class). Only a module that was imported can have
# raised its error, so main() looks the classes up instead of importing torch to name them.
USAGE_ERRORS = (
    ("core.spec", "SpecError"),
    ("core.data.base", "DataError"),
    ("core.models.names", "ModelError"),
    ("core.training.init_schemes", "InitError"),
    ("core.registry", "UnknownNameError"),
)


# Training that could not go on (a model too deep for the images, a non-finite loss): the
# operation failed, and the message names the run, phase and reason.
FAILED_ERRORS = (("core.training.member", "TrainingError"),)


def loaded_errors(names: tuple[tuple[str, str], ...]) -> tuple[type[BaseException], ...]:
    """The error classes among `names` whose modules were imported so far."""
    return tuple(getattr(sys.modules[name], cls) for name, cls in names if name in sys.modules)


def usage_errors() -> tuple[type[BaseException], ...]:
    """The bad-input error classes of the core modules loaded so far, and missing files."""
    return (*loaded_errors(USAGE_ERRORS), FileNotFoundError, FileExistsError)


def usage_line(error: typer.TyperException) -> str:
    """A usage error as one line, with the `--help` of the command it concerns."""
    message = " ".join(error.format_message().split())
    context = getattr(error, "ctx", None)
    command = context.command_path if context is not None else "initlab"
    return f"{message} (see '{command} --help')"


def run_app(args: list[str] | None) -> None:
    """Run the typer app, usage errors raised rather than printed as typer's boxed panel."""
    try:
        outcome = app(args=args, prog_name="initlab", standalone_mode=False)
    except typer.Abort:  # end of input at a prompt
        print("initlab: error: aborted", file=sys.stderr)
        sys.exit(FAILED)
    except typer.TyperException as error:  # typer's (vendored click's) usage errors
        if type(error).__name__ == "NoArgsIsHelpError":  # a bare group: its help, as before
            error.show()  # type: ignore[attr-defined]
        else:
            print(f"initlab: error: {usage_line(error)}", file=sys.stderr)
        sys.exit(error.exit_code)
    if isinstance(outcome, int):  # typer.Exit(code) comes back as its code
        sys.exit(outcome)


def main(args: list[str] | None = None) -> None:
    """Run the CLI; a foreseeable failure ends with one line on stderr and its exit code."""
    try:
        run_app(args)
    except (Unreachable, ApiError) as error:
        api_exit(error)
    except KeyboardInterrupt:  # `run` says what it saved; elsewhere there is nothing to lose
        print("initlab: interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED)
    except Exception as error:
        if isinstance(error, loaded_errors(FAILED_ERRORS)):
            print(f"initlab: error: {error}", file=sys.stderr)
            sys.exit(FAILED)
        if not isinstance(error, usage_errors()):
            raise
        print(f"initlab: error: {error}", file=sys.stderr)
        sys.exit(USAGE)


if __name__ == "__main__":
    main()
