"""The model registry: each built-in network registers its factory here when imported.

Its own module so the networks import it without importing core.models.factory, which imports
them (the built-in networks are loaded there, in one place).
"""

from collections.abc import Callable

from torch import nn

from core.registry import Registry

MODELS: Registry[Callable[[int], nn.Module]] = Registry("model")
