"""`initlab models list`: the registered models and how to name any other."""

from __future__ import annotations

from typing import Annotated

import typer

from initlab.options import JsonOption, print_json

models_app = typer.Typer(help="Networks an experiment can train.", no_args_is_help=True)


@models_app.command("list")
def list_models(
    torchvision: Annotated[
        bool, typer.Option("--torchvision", help="also list every torchvision model name")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Registered models with their parameter count for 10 classes, and the other two forms."""
    from core.models import MODELS, build_model, param_count
    from core.models.names import torchvision_names

    if as_json:
        counts = {name: param_count(build_model(name, 10)) for name in MODELS}
        extra = [f"torchvision:{name}" for name in torchvision_names()] if torchvision else []
        print_json({"registered": counts, "torchvision": extra})
        return
    width = max(len(name) for name in MODELS)
    for name in MODELS:
        count = param_count(build_model(name, 10))
        typer.echo(f"{name:<{width}}  {count:>10,} parameters (10 classes)")
    typer.echo("\ntorchvision:<name>  any torchvision classification model, untrained "
               "(e.g. torchvision:resnet18; --torchvision lists them)")
    typer.echo("import:<module>:<factory>  your own: factory(num_classes=…, in_channels=3) "
               "returning an nn.Module; the service admits only modules in "
               "INITLAB_ALLOWED_MODEL_MODULES")
    if torchvision:
        for name in torchvision_names():
            typer.echo(f"torchvision:{name}")


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
