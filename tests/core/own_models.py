"""A researcher's own model module, named by specs as `import:tests.core.own_models:<factory>`."""

from torch import nn


def tiny_net(num_classes: int, in_channels: int) -> nn.Module:
    """A one-conv network built from the two arguments InitLab passes."""
    return nn.Sequential(nn.Conv2d(in_channels, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, num_classes))


def fixed_size_net(num_classes: int, in_channels: int) -> nn.Module:
    """A classifier sized for 8×8 images only (flatten, then a fixed linear layer): it stacks,
    and refuses any other image size."""
    return nn.Sequential(nn.Conv2d(in_channels, 2, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(2 * 8 * 8, num_classes))


def not_a_module(num_classes: int, in_channels: int) -> str:
    """A factory that returns the wrong thing."""
    return "oops"


NOT_CALLABLE = 3
