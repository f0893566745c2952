"""Model names beyond the registry: `torchvision:<name>` and `import:<module>:<factory>`.

A spec names its model as text. Checking a name never imports the researcher's module (the API
validates specs it must not run), nor torch for a registered name; only `build_named` does, when
a run actually starts.
"""

from __future__ import annotations

import difflib
import importlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    from torch import nn

# The registered networks' names, as the spec declares them (tests/core/test_registries.py keeps
# them equal to the registry).
ModelName = Literal["mobilenet_v1", "mobilenet_v2", "mobilenet_v3_small", "small_cnn"]

TORCHVISION = "torchvision:"
IMPORT = "import:"
IN_CHANNELS = 3  # every data set loads as 3 channels (grey ones replicated; core/data/idx.py)
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ModelError(ValueError):
    """A model name that cannot be built; the message names it and what would be valid."""


def torchvision_names() -> list[str]:
    """torchvision's own list of its classification models."""
    import torchvision  # slow import; only when a torchvision name is used

    return sorted(torchvision.models.list_models(module=torchvision.models))


def check_torchvision_name(name: str) -> None:
    """Refuse a name torchvision does not list, suggesting the closest ones."""
    names = torchvision_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3)
        hint = f"; did you mean {', '.join(TORCHVISION + c for c in close)}?" if close else ""
        raise ModelError(f"unknown torchvision model {name!r}{hint} "
                         f"(`initlab models list --torchvision` lists all {len(names)})")


def split_import(name: str) -> tuple[str, str]:
    """(module, factory) of `import:<module>:<factory>`, syntax-checked, nothing imported."""
    parts = name.removeprefix(IMPORT).split(":")
    if len(parts) != 2 or not _DOTTED.match(parts[0]) or not _IDENTIFIER.match(parts[1]):
        raise ModelError(f"{name!r} is not of the form import:package.module:factory")
    return parts[0], parts[1]


def check_model_name(name: str, registered: list[str] | None = None) -> None:
    """Raise ModelError unless `name` is registered, a torchvision model or an import path."""
    if name.startswith(TORCHVISION):
        check_torchvision_name(name.removeprefix(TORCHVISION))
    elif name.startswith(IMPORT):
        split_import(name)
    else:
        if registered is None:
            # The declared names, not the registry: reading that would load torch. test_spec
            # keeps the two equal.
            registered = sorted(get_args(ModelName))
        if name not in registered:
            raise ModelError(f"unknown model {name!r}; valid choices: "
                             f"{', '.join(registered)}, torchvision:<name>, "
                             "import:<module>:<factory>")


def import_factory(name: str) -> Callable[..., nn.Module]:
    """The factory an `import:` name points at, imported now."""
    module_name, attribute = split_import(name)
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ModelError(f"cannot import module {module_name!r}: {error}") from None
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise ModelError(f"module {module_name!r} has no callable {attribute!r}")
    return factory  # type: ignore[no-any-return]


def build_named(name: str, num_classes: int) -> nn.Module:
    """A fresh `torchvision:` or `import:` model with `num_classes` outputs."""
    from torch import nn

    if name.startswith(TORCHVISION):
        import torchvision

        check_torchvision_name(name.removeprefix(TORCHVISION))
        model = torchvision.models.get_model(
            name.removeprefix(TORCHVISION), weights=None, num_classes=num_classes
        )
    else:
        model = import_factory(name)(num_classes=num_classes, in_channels=IN_CHANNELS)
    if not isinstance(model, nn.Module):
        raise ModelError(f"{name!r} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def check_allowed(name: str, allowed: list[str]) -> None:
    """Refuse an `import:` model whose module is not in `allowed` (the service's allow-list)."""
    if not name.startswith(IMPORT):
        return
    module_name, _ = split_import(name)
    if module_name not in allowed:
        listed = ", ".join(allowed) if allowed else "none"
        raise ModelError(
            f"module {module_name!r} is not in INITLAB_ALLOWED_MODEL_MODULES "
            f"(allowed: {listed}); the service imports only modules its operator listed"
        )
