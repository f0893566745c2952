"""Grey 28 px images: a 1-channel stem vs the 3 replicated channels InitLab feeds (small_cnn).

Measures CPU time (process time, so other jobs on a shared machine distort it less than wall
time) of training epochs and of evaluation on random uint8 images, one thread.
Run: PYTHONPATH=. OMP_NUM_THREADS=1 python bench/grey_channels.py
"""

from __future__ import annotations

import time

import torch
from torch import nn

from core.models.small_cnn import SmallCNN
from core.training.train import Preprocess, evaluate, make_optimizer, train_one_epoch

IMAGES, EPOCHS = 2048, 3


def measure(channels: int) -> tuple[float, float]:
    """(best training CPU seconds per epoch, evaluation CPU seconds) for `channels` inputs."""
    torch.manual_seed(0)
    model = SmallCNN(10)
    if channels == 1:
        model.features[0] = nn.Conv2d(1, 32, 3, padding=1, bias=False)
    model = model.to(memory_format=torch.channels_last)
    images = torch.randint(0, 256, (IMAGES, channels, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (IMAGES,))
    pre = Preprocess(torch.zeros(1, channels, 1, 1), torch.full((1, channels, 1, 1), 255.0),
                     False, True)
    optimizer = make_optimizer("adamw", model.parameters(), lr=1e-3, weight_decay=0.01,
                               device=torch.device("cpu"))
    times = []
    for epoch in range(EPOCHS):
        began = time.process_time()
        train_one_epoch(model, optimizer, images, labels, batch_size=64, preprocess=pre,
                        generator=torch.Generator().manual_seed(epoch))
        times.append(time.process_time() - began)
    began = time.process_time()
    evaluate(model, images, labels, batch_size=256, preprocess=pre)
    return min(times), time.process_time() - began


if __name__ == "__main__":
    torch.set_num_threads(1)
    for channels in (3, 1, 3, 1):
        train, evaluation = measure(channels)
        print(f"channels={channels}: train {IMAGES} images {train:.3f} s CPU "
              f"({IMAGES / train:.0f} img/s), eval {evaluation:.3f} s")
