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


def dropout_net(num_classes: int, in_channels: int) -> nn.Module:
    """Dropout between two linear layers, as MobileNet v2/v3 and VGG classifiers have it."""
    return nn.Sequential(nn.Conv2d(in_channels, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(16, num_classes))


def channel_dropout_net(num_classes: int, in_channels: int) -> nn.Module:
    """Dropout2d drops whole channel maps: it does not stack (yet), so its repeats train alone."""
    return nn.Sequential(nn.Conv2d(in_channels, 4, 3), nn.ReLU(), nn.Dropout2d(0.5),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, num_classes))
