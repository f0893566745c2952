"""Every registered model builds, runs forward and backward at the paper's sizes."""

import pytest
import torch

from core.models import MODELS, build_model


@pytest.mark.parametrize("name", MODELS.names())
@pytest.mark.parametrize("size", [16, 28, 32])
def test_every_model_trains_a_step_at_small_sizes(name: str, size: int) -> None:
    model = build_model(name, 10).to(memory_format=torch.channels_last)
    x = torch.randn(4, 3, size, size).contiguous(memory_format=torch.channels_last)
    logits = model(x)
    assert logits.shape == (4, 10)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("classes, expected", [(1000, 4_231_976), (10, 3_217_226)])
def test_mobilenet_v1_has_the_reference_parameter_count(classes: int, expected: int) -> None:
    model = build_model("mobilenet_v1", classes)
    assert sum(p.numel() for p in model.parameters()) == expected


def test_mobilenet_v1_convs_are_bias_free_and_blocks_match_the_design() -> None:
    model = build_model("mobilenet_v1", 10)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 1 + 13 * 2
    assert all(conv.bias is None for conv in convs)
    assert [c.out_channels for c in convs[2::2]] == [
        64,
        128,
        128,
        256,
        256,
        512,
        512,
        512,
        512,
        512,
        512,
        1024,
        1024,
    ]
    assert [c.stride[0] for c in convs[1::2]] == [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]


def test_unknown_model_lists_the_valid_choices() -> None:
    with pytest.raises(ValueError, match="valid choices: mobilenet_v1, mobilenet_v2"):
        build_model("resnet50", 10)
