"""A small CNN for tests and the embedded CPU demo: trains on digits in seconds."""

from torch import Tensor, nn

from core.models.registry import MODELS


class SmallCNN(nn.Module):
    """Two conv-BN-ReLU blocks, global average pool, linear; works at any input size >= 4 px."""

    def __init__(self, num_classes: int = 10, width: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
        )
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x).flatten(1))


MODELS.register("small_cnn")(SmallCNN)
