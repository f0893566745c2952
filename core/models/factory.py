"""Model registry: `build_model(name, num_classes)` builds any registered network.

The package `core.models` re-exports these names lazily, so importing it (for the name checks in
core.models.names) does not load torch.
"""

from torch import nn

# The built-in networks, loaded in this one place: importing each registers its factory.
from core.models import mobilenet_v1, small_cnn, torchvision_models  # noqa: F401
from core.models.names import IMPORT, TORCHVISION, build_named
from core.models.registry import MODELS

__all__ = ["MODELS", "build_model", "param_count"]


def build_model(name: str, num_classes: int) -> nn.Module:
    """A freshly initialised network `name` (registered, torchvision: or import:)."""
    if name.startswith((TORCHVISION, IMPORT)):
        return build_named(name, num_classes)
    return MODELS.get(name)(num_classes)


def param_count(model: nn.Module) -> int:
    """Number of trainable parameters (what papers report as a model's size)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

