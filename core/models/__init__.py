"""Model registry: `build_model(name, num_classes)` builds any registered network."""

from collections.abc import Callable

from torch import nn

from core.registry import Registry

MODELS: Registry[Callable[[int], nn.Module]] = Registry("model")


def build_model(name: str, num_classes: int) -> nn.Module:
    """A freshly initialised network `name` with `num_classes` outputs."""
    return MODELS.get(name)(num_classes)


# Importing the modules registers their models.
from core.models import mobilenet_v1, small_cnn, torchvision_models  # noqa: E402, F401
