"""Entry point of the `initlab` command: gathers the command modules and maps errors to exit 2."""

import importlib
import pkgutil
import sys

import typer

from core.data.base import DataError
from core.init_schemes import InitError
from core.models.names import ModelError
from core.registry import UnknownNameError
from core.spec import SpecError
from initlab import commands

app = typer.Typer(
    help="InitLab: paired, repeated initialisation experiments.", no_args_is_help=True
)

for module in pkgutil.iter_modules(commands.__path__):
    importlib.import_module(f"{commands.__name__}.{module.name}").register(app)


def main() -> None:
    """Run the CLI; bad input ends with one line on stderr and exit code 2, never a traceback."""
    try:
        app()
    except (SpecError, DataError, ModelError, InitError, UnknownNameError,
            FileNotFoundError, FileExistsError) as error:
        print(f"initlab: error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
