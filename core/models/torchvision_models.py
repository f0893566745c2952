"""MobileNet v2 and v3-small from torchvision, with their own initialisation (paper Section V)."""

from torch import nn
from torchvision import models

from core.models.registry import MODELS


@MODELS.register("mobilenet_v2")
def mobilenet_v2(num_classes: int) -> nn.Module:
    """torchvision's MobileNetV2, randomly initialised, `num_classes` outputs."""
    return models.mobilenet_v2(weights=None, num_classes=num_classes)


@MODELS.register("mobilenet_v3_small")
def mobilenet_v3_small(num_classes: int) -> nn.Module:
    """torchvision's MobileNetV3-Small, randomly initialised, `num_classes` outputs."""
    return models.mobilenet_v3_small(weights=None, num_classes=num_classes)
