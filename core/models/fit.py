"""Whether a network can take the data set's images at all, asked before any training.

Deep torchvision models shrink their input many times (inception_v3 and squeezenet need at
least ~75 and ~33 pixels); on 8×8 digits or 28×28 Fashion-MNIST their forward pass fails deep
inside PyTorch. One forward pass of two blank images finds this in a fraction of a second.
"""

from __future__ import annotations

import torch
from torch import nn


def input_problem(model: nn.Module, name: str, image_shape: tuple[int, ...],
                  device: torch.device) -> str | None:
    """None if `model` takes images of `image_shape` (C, H, W); else why not, in one line."""
    blank = torch.zeros(2, *image_shape, device=device)
    was_training = model.training
    model.eval()  # no batch-norm statistics move, no dropout draw
    try:
        with torch.no_grad():
            model(blank.contiguous(memory_format=torch.channels_last))
    except RuntimeError as error:
        reason = str(error).strip().splitlines()[0]
        c, h, w = image_shape
        return (f"model {name!r} cannot take this data set's {c}×{h}×{w} images ({reason}); "
                f"set dataset.image_size larger, if the data set allows it, or choose a model "
                f"made for small images such as small_cnn")
    finally:
        model.train(was_training)
    return None
