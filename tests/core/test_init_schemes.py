"""Init schemes: each formula's statistics, LSUV's unit variances, and pairing across arms."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from core.data import load_dataset
from core.models import build_model
from core.spec import InitName, parse_spec
from core.training.init_schemes import (
    LSUV_TOLERANCE,
    SCHEMES,
    apply_init,
    forward_order,
    output_variance,
    reset_layers,
)
from core.training.runner import run_single


def wide_mlp() -> nn.Module:
    """Layers large enough that sample statistics pin each formula's variance."""
    return nn.Sequential(nn.Linear(400, 300), nn.BatchNorm1d(300), nn.ReLU(), nn.Linear(300, 10))


@pytest.fixture(scope="module")
def digits():  # type: ignore[no-untyped-def]
    return load_dataset("digits", None)


def test_every_spec_name_is_a_registered_scheme() -> None:
    from typing import get_args

    assert sorted(get_args(InitName)) == SCHEMES.names()


@pytest.mark.parametrize(
    "scheme, variance",
    [
        ("kaiming_normal", 2 / 400),
        ("kaiming_uniform", 2 / 400),
        ("xavier_normal", 2 / (400 + 300)),
        ("xavier_uniform", 2 / (400 + 300)),
    ],
)
def test_random_schemes_have_their_published_variance(digits, scheme: str,  # type: ignore[no-untyped-def]
                                                      variance: float) -> None:
    model = wide_mlp()
    with torch.no_grad():
        model[1].weight.fill_(3.0)
        model[1].bias.fill_(2.0)
    apply_init(model, scheme, digits, "standard", torch.Generator().manual_seed(0))
    weight = model[0].weight.detach()
    assert float(weight.var()) == pytest.approx(variance, rel=0.03)
    assert float(weight.mean()) == pytest.approx(0.0, abs=0.01 * math.sqrt(variance))
    if scheme.endswith("uniform"):  # U(-b, b) with b = sqrt(3 · variance)
        assert float(weight.abs().max()) <= math.sqrt(3 * variance) + 1e-7
    assert torch.count_nonzero(model[0].bias) == 0 and torch.count_nonzero(model[3].bias) == 0
    assert torch.all(model[1].weight == 1) and torch.all(model[1].bias == 0)


def test_orthogonal_rows_are_orthogonal_with_relu_gain(digits) -> None:  # type: ignore[no-untyped-def]
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(4))
    model(torch.zeros(1, 3, 8, 8))
    apply_init(model, "orthogonal", digits, "standard", torch.Generator().manual_seed(1))
    rows = model[0].weight.flatten(1)  # 8 × 27: orthogonal rows
    assert torch.allclose(rows @ rows.T, 2.0 * torch.eye(8), atol=1e-5)


def test_pytorch_leaves_the_model_alone(digits) -> None:  # type: ignore[no-untyped-def]
    model = build_model("small_cnn", 10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    apply_init(model, "pytorch", digits, "standard", torch.Generator().manual_seed(0))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("model_name", ["small_cnn", "mobilenet_v1"])
def test_lsuv_leaves_every_layer_at_unit_variance(digits, model_name: str) -> None:  # type: ignore[no-untyped-def]
    model = build_model(model_name, 10)
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    generator = torch.Generator().manual_seed(5)
    apply_init(model, "lsuv", digits, "standard", generator)
    # BN running statistics are as the fresh model had them: LSUV's batch leaves no trace.
    assert all(torch.equal(buffers[k], v) for k, v in model.named_buffers())
    # The same batch LSUV drew: the generator state after the orthogonal draws.
    check = build_model(model_name, 10)
    replay = torch.Generator().manual_seed(5)
    reset_layers(check, lambda w, g: nn.init.orthogonal_(w, generator=g), replay)
    index = torch.randperm(len(digits.train), generator=replay)[:256]
    from core.training.train import Preprocess

    pre = Preprocess.build(digits.mean, digits.std, normalize="standard", augment=False,
                           device=torch.device("cpu"), channels_last=False)
    x = pre(digits.train.images[index])
    model.train()
    layers = forward_order(model, x)
    assert len(layers) == sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules())
    with torch.no_grad():
        for layer in layers:
            assert abs(output_variance(model, layer, x) - 1.0) <= LSUV_TOLERANCE


def pairing_spec(inits: list[str]) -> dict[str, object]:
    arms = [{"name": f"{init}-{k}", "method": method, "init": init,
             **({"stages": [{"fraction": 0.2, "epochs": 1}]} if method != "original" else {})}
            for k, (init, method) in enumerate(
                (init, method) for init in inits for method in ("original", "smart_init"))]
    return {"name": "p", "model": "small_cnn", "dataset": {"name": "digits", "train_size": 64},
            "training": {"epochs": 1, "batch_size": 16}, "arms": arms, "repeats": 2}


def test_same_scheme_same_weights_different_schemes_differ_only_by_the_scheme(digits) -> None:  # type: ignore[no-untyped-def]
    spec = parse_spec(pairing_spec(["pytorch", "kaiming_normal", "lsuv"]))
    data = load_dataset("digits", None, train_size=64)
    prints: dict[tuple[str, int], str] = {}
    for arm in spec.arms:
        for repeat in (0, 1):
            prints[(arm.name, repeat)] = run_single(spec, arm.name, repeat,
                                                    dataset=data).init_fingerprint
    for repeat in (0, 1):
        for init in ("pytorch", "kaiming_normal", "lsuv"):
            same = {fp for (name, r), fp in prints.items() if r == repeat and name.startswith(init)}
            assert len(same) == 1, (init, repeat)
        assert len({fp for (_, r), fp in prints.items() if r == repeat}) == 3
    assert prints[("pytorch-0", 0)] != prints[("pytorch-0", 1)]  # repeats differ
    # A scheme replaces conv/linear weights and resets norms, and nothing else: the same base
    # network (same seed) under kaiming_normal equals any other base network under it only in
    # the scheme's draws, which come from the (seed, repeat) generator alone.
    from core.training.phases import generator_for, initial_model

    a = initial_model(spec, 0, 10, "init")
    b = initial_model(spec, 1, 10, "init")  # a different base network
    for model in (a, b):
        apply_init(model, "kaiming_normal", data, "standard", generator_for(0, "init-scheme", 0))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                 b.state_dict().values(), strict=True))
