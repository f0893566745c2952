"""MobileNet v1 exactly as jmjeon94/MobileNet-Pytorch, the implementation the paper used."""

from torch import Tensor, nn

from core.models.registry import MODELS

# (output channels, stride) of the 13 depthwise-separable blocks (Howard et al. 2017, Table 1).
BLOCKS = (
    [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)]
    + [(512, 1)] * 5
    + [
        (1024, 2),
        (1024, 1),
    ]
)


def _conv_bn(inp: int, out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inp, out, 3, stride, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True)
    )


def _conv_dw(inp: int, out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False),
        nn.BatchNorm2d(inp),
        nn.ReLU(inplace=True),
        nn.Conv2d(inp, out, 1, 1, 0, bias=False),
        nn.BatchNorm2d(out),
        nn.ReLU(inplace=True),
    )


class MobileNetV1(nn.Module):
    """3×3 stem, 13 depthwise-separable blocks, average pool, linear; default PyTorch init."""

    def __init__(self, num_classes: int = 1000, in_channels: int = 3) -> None:
        super().__init__()
        layers = [_conv_bn(in_channels, 32, 2)]
        width = 32
        for out, stride in BLOCKS:
            layers.append(_conv_dw(width, out, stride))
            width = out
        self.model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1))
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.model(x).flatten(1))


MODELS.register("mobilenet_v1")(MobileNetV1)
