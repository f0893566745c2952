"""The stacked model (core/training/stacked.py): layout, state slicing, refusals, step
equivalence."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.models import MODELS, build_model
from core.training.stacked import (
    MemberDropout,
    member_optimizer_state,
    member_tensor,
    own_dropout,
    set_dropout_generators,
    stack_models,
    stack_optimizer_states,
    stack_refusal,
    try_stack,
)
from core.training.train import Preprocess, make_optimizer, train_members_epoch, train_one_epoch

CPU = torch.device("cpu")
# Registered models that must stack (every one, since Dropout stacks: issue 25); any other
# must refuse with a reason.
STACKABLE = {"small_cnn", "mobilenet_v1", "mobilenet_v2", "mobilenet_v3_small"}


def nets(name: str, n: int, dtype: torch.dtype = torch.float32) -> list[nn.Module]:
    torch.manual_seed(0)
    return [
        build_model(name, 10).to(dtype=dtype, memory_format=torch.channels_last) for _ in range(n)
    ]


@pytest.mark.parametrize("name", MODELS.names())
def test_every_registered_model_stacks_or_says_why_not(name: str) -> None:
    models = nets(name, 3)
    stacked = try_stack(models, 16)
    if name in STACKABLE:
        assert stacked is not None and stacked.members == 3
    else:
        assert stacked is None
        assert stack_refusal(models[0]) is not None


def test_member_states_are_the_members_own_exactly() -> None:
    models = nets("mobilenet_v1", 3)
    stacked = stack_models(models)
    for model, state in zip(models, stacked.member_states(), strict=True):
        own = model.state_dict()
        assert own.keys() == state.keys()
        assert all(torch.equal(own[k], state[k]) for k in own)


class ChannelMixer(nn.Module):
    """Mixes all channels outside a known layer: the leaf check passes, the probe must not."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 10)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv(x)
        return self.fc((h - h.mean(1, keepdim=True)).mean((2, 3)))


def test_a_forward_that_mixes_members_is_caught_by_the_probe(
    caplog: pytest.LogCaptureFixture,
) -> None:
    torch.manual_seed(0)
    models = [ChannelMixer() for _ in range(2)]
    assert stack_refusal(models[0]) is None
    with caplog.at_level("INFO"):
        assert try_stack(models, 8) is None
    assert "one by one: stacked outputs differ" in caplog.text


def test_an_unknown_layer_is_refused_by_name() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.LayerNorm([4, 6, 6]))
    assert stack_refusal(model) == "LayerNorm at 1 is not a layer the stacked rewrite knows"


@pytest.mark.parametrize("name", ["small_cnn", "mobilenet_v1"])  # no dropout: see below
def test_float64_steps_equal_the_members_alone(name: str) -> None:
    """In float64 the stacked steps equal the one-by-one steps to 1e-12: the rewrite is exact,
    and what float32 runs differ by is reassociation (amplified by Adam and BatchNorm). One
    intra-op thread: with two, a convolution's sums split differently for a stacked batch than
    for a member's, and mobilenet_v1 then differs beyond 1e-12 (it passed only when an earlier
    test had left torch on one thread)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _float64_steps_equal(name)
    finally:
        torch.set_num_threads(threads)


def _float64_steps_equal(name: str) -> None:
    models = nets(name, 3, torch.float64)
    alone = copy.deepcopy(models)
    stacked = stack_models(models)
    optimizer = torch.optim.AdamW(stacked.parameters(), lr=1e-3)
    optimizers = [torch.optim.AdamW(m.parameters(), lr=1e-3) for m in alone]
    g = torch.Generator().manual_seed(1)
    for _ in range(4):
        x = torch.randn(3, 16, 3, 16, 16, generator=g, dtype=torch.float64)
        y = torch.randint(0, 10, (3, 16), generator=g)
        logits = stacked(x)
        optimizer.zero_grad()
        sum(F.cross_entropy(logits[r], y[r]) for r in range(3)).backward()
        optimizer.step()
        for r, (m, o) in enumerate(zip(alone, optimizers, strict=True)):
            o.zero_grad()
            F.cross_entropy(m(x[r]), y[r]).backward()
            o.step()
    for r, m in enumerate(alone):
        state = stacked.member_states()[r]
        assert all(
            torch.allclose(state[k], v, rtol=0, atol=1e-12) for k, v in m.state_dict().items()
        )
        own = optimizers[r].state_dict()["state"]
        sliced = member_optimizer_state(optimizer.state_dict(), r, 3)["state"]
        for i, s in own.items():
            assert torch.allclose(sliced[i]["exp_avg"], s["exp_avg"], rtol=0, atol=1e-12)


def test_optimizer_states_round_trip() -> None:
    models = nets("small_cnn", 2)
    stacked = stack_models(models)
    optimizer = make_optimizer(
        "adamw", stacked.parameters(), lr=1e-3, weight_decay=0.01, device=CPU
    )
    stacked(torch.randn(2, 4, 3, 8, 8)).sum().backward()
    optimizer.step()
    state = optimizer.state_dict()
    members = [member_optimizer_state(state, r, 2) for r in range(2)]
    again = stack_optimizer_states(members)
    for i, s in state["state"].items():
        assert all(torch.equal(again["state"][i][k], v) for k, v in s.items())
    assert (
        member_tensor(state["state"][0]["exp_avg"], 1, 2).shape
        == models[1].features[0].weight.shape
    )


def test_a_stacked_epoch_equals_the_members_epochs_alone() -> None:
    """small_cnn, crop+flip, each member its own order: float32 results equal to 1e-6 relative
    after one epoch (measured: losses equal to 1e-7, weights to 3e-7)."""
    models = nets("small_cnn", 4)
    alone = copy.deepcopy(models)
    stacked = stack_models(models)
    g = torch.Generator().manual_seed(2)
    images = torch.randint(0, 256, (200, 3, 8, 8), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (200,), generator=g)
    pre = Preprocess.build((0.3,) * 3, (0.4,) * 3, normalize="standard", augment=True, device=CPU)
    optimizer = make_optimizer(
        "adamw", stacked.parameters(), lr=1e-3, weight_decay=0.01, device=CPU
    )
    subsets = torch.stack([torch.randperm(200, generator=g)[:150] for _ in range(4)])
    results = train_members_epoch(
        stacked,
        optimizer,
        images,
        labels,
        batch_size=32,
        preprocess=pre,
        generators=[torch.Generator().manual_seed(r) for r in range(4)],
        subsets=subsets,
    )
    for r, model in enumerate(alone):
        o = make_optimizer("adamw", model.parameters(), lr=1e-3, weight_decay=0.01, device=CPU)
        own = train_one_epoch(
            model,
            o,
            images[subsets[r]],
            labels[subsets[r]],
            batch_size=32,
            preprocess=pre,
            generator=torch.Generator().manual_seed(r),
        )
        assert results[r].examples == own.examples == 150
        assert results[r].loss == pytest.approx(own.loss, rel=1e-6)
        assert results[r].accuracy == own.accuracy
        state = stacked.member_states()[r]
        for k, v in model.state_dict().items():
            assert torch.allclose(state[k].float(), v.float(), rtol=1e-5, atol=1e-6), k


def test_each_stacked_member_draws_the_dropout_masks_of_its_run_alone() -> None:
    """Member r's mask comes from generator r in member r's own shape: the masks a run alone
    draws from the same generator, and on the CPU nn.Dropout's own under that seed (so single
    runs keep their numbers)."""
    seeds, p = (11, 12, 13), 0.3
    stacked = MemberDropout(p, 3)
    set_dropout_generators(stacked, [torch.Generator().manual_seed(s) for s in seeds])
    out = stacked(torch.ones(8, 3 * 5, 2, 2)).view(8, 3, 5, 2, 2)
    for r, seed in enumerate(seeds):
        alone = own_dropout(nn.Sequential(nn.Dropout(p)))
        set_dropout_generators(alone, [torch.Generator().manual_seed(seed)])
        assert torch.equal(out[:, r], alone(torch.ones(8, 5, 2, 2)))
        torch.manual_seed(seed)
        assert torch.equal(out[:, r], F.dropout(torch.ones(8, 5, 2, 2), p, training=True))
    assert len({tuple(out[:, r].flatten().tolist()) for r in range(3)}) == 3  # masks differ
    eval_mode = stacked.eval()
    assert torch.equal(eval_mode(torch.ones(2, 6)), torch.ones(2, 6))


def test_float64_dropout_steps_equal_the_members_alone() -> None:
    """mobilenet_v3_small (Dropout 0.2 in its classifier), 3 members, 4 AdamW steps in train
    mode: each member's logits equal its run alone's to 1e-12 at every step, masks included.
    Weights agree to 1e-10: a few BatchNorm biases whose gradient is pure rounding noise move
    by Adam steps of that noise (measured: 1e-11 apart, at values of 1e-11)."""
    models = nets("mobilenet_v3_small", 3, torch.float64)
    alone = [own_dropout(m) for m in copy.deepcopy(models)]
    stacked = stack_models(models)
    set_dropout_generators(stacked, [torch.Generator().manual_seed(r) for r in range(3)])
    for r, m in enumerate(alone):
        set_dropout_generators(m, [torch.Generator().manual_seed(r)])
    optimizer = torch.optim.AdamW(stacked.parameters(), lr=1e-3)
    optimizers = [torch.optim.AdamW(m.parameters(), lr=1e-3) for m in alone]
    g = torch.Generator().manual_seed(1)
    for _ in range(4):
        x = torch.randn(3, 8, 3, 16, 16, generator=g, dtype=torch.float64)
        y = torch.randint(0, 10, (3, 8), generator=g)
        optimizer.zero_grad()
        logits = stacked(x)
        sum(F.cross_entropy(logits[r], y[r]) for r in range(3)).backward()
        optimizer.step()
        for r, (m, o) in enumerate(zip(alone, optimizers, strict=True)):
            o.zero_grad()
            own = m(x[r])
            assert torch.allclose(logits[r], own, rtol=0, atol=1e-12)
            F.cross_entropy(own, y[r]).backward()
            o.step()
    for r, m in enumerate(alone):
        state = stacked.member_states()[r]
        assert all(
            torch.allclose(state[k], v, rtol=0, atol=1e-10) for k, v in m.state_dict().items()
        )


def test_a_channel_dropout_is_refused_by_name() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Dropout2d(0.5))
    assert stack_refusal(model) == (
        "Dropout2d at 1 (p=0.5) drops whole channels or alpha-scales its output; "
        "of the dropouts only nn.Dropout stacks"
    )
