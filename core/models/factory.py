"""Model registry: `build_model(name, num_classes)` builds any registered network.

The package `core.models` re-exports these names lazily, so importing it (for the name checks in
core.models.names) does not load torch.
"""

from collections.abc import Callable

from torch import nn

from core.registry import Registry

MODELS: Registry[Callable[[int], nn.Module]] = Registry("model")


def build_model(name: str, num_classes: int) -> nn.Module:
    """A freshly initialised network `name` (registered, torchvision: or import:)."""
    from core.models.names import IMPORT, TORCHVISION, build_named

    if name.startswith((TORCHVISION, IMPORT)):
        return build_named(name, num_classes)
    return MODELS.get(name)(num_classes)


def param_count(model: nn.Module) -> int:
    """Number of trainable parameters (what papers report as a model's size)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# Importing the modules registers their models.
from core.models import mobilenet_v1, small_cnn, torchvision_models  # noqa: E402, F401
