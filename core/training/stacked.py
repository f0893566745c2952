"""R networks of one architecture trained in lockstep as one stacked network (issue 12).

Why an explicit grouped rewrite and not `torch.func.vmap`: vmap's batching rules fold the
member dimension into the channels of every convolution and BatchNorm anyway (a grouped conv),
but pay a reshape/copy on each side of every layer; the rewrite keeps the activations in that
layout from the first layer to the last. The stacked weights are ordinary parameters, so the
fused AdamW step, channels_last, cuDNN autotuning and torch.compile all work unchanged, and a
member's slice of any tensor is a view. Measured on this project's idle 2-core CPU (issue 12,
bench/RESULTS.md; small_cnn, 28 px, batch 64, R=8): one by one 2,900 img/s aggregate, vmap
1,400, grouped 2,650. On a GPU the grouped form turns R tiny kernels into one, the point of it.

Layout: member r owns channels [r·C, (r+1)·C) of every activation (B×(R·C)×H×W) and features
[r·F, (r+1)·F) of every flat one (B×(R·F)). Every stacked tensor is the concatenation of the
members' tensors along dimension 0, so stacking and slicing states (model, optimiser) is one
rule: `cat` in, `view(R, -1, ...)[r]` out; 0-dim tensors (BatchNorm's num_batches_tracked,
Adam's step) are shared, since members advance in lockstep.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import torch
from torch import Tensor, nn

log = logging.getLogger(__name__)

# Leaves that act per element, or per channel and position, so the member-major layout passes
# through them unchanged.
ELEMENTWISE = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.SiLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.GELU,
    nn.Identity,
    nn.AdaptiveAvgPool2d,
    nn.AvgPool2d,
    nn.MaxPool2d,
)
PROBE_TOLERANCE = 1e-3  # relative; a wrong layout is off by O(1), float reassociation by 1e-6


class StackedLinear(nn.Module):
    """R linear layers as one batched matmul; weight (R·out)×in, bias R·out, like a cat."""

    def __init__(self, members: int, in_features: int, out_features: int, bias: bool) -> None:
        super().__init__()
        self.members, self.in_features, self.out_features = members, in_features, out_features
        meta = torch.device("meta")
        self.weight = nn.Parameter(torch.empty(members * out_features, in_features, device=meta))
        self.bias = nn.Parameter(torch.empty(members * out_features, device=meta)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        """B×(R·in) -> B×(R·out): member r's features through member r's weights."""
        if x.dim() != 2:
            raise ValueError(f"StackedLinear expects B×(R·in) input, got shape {tuple(x.shape)}")
        r, b = self.members, x.shape[0]
        xs = x.view(b, r, self.in_features).transpose(0, 1)  # R×B×in
        w = self.weight.view(r, self.out_features, self.in_features).transpose(1, 2)
        if self.bias is None:
            out = torch.bmm(xs, w)
        else:
            out = torch.baddbmm(self.bias.view(r, 1, self.out_features), xs, w)
        return out.transpose(0, 1).reshape(b, r * self.out_features)


class MemberDropout(nn.Module):
    """Dropout (nn.Dropout's arithmetic) whose member r draws its masks from generator r.

    Member r owns the slice [r·C, (r+1)·C) of dimension 1; its mask is drawn in that slice's own
    contiguous shape, so a run alone (members=1) and the same run stacked draw the same masks
    from the same generator, on any device. Without generators it draws from the global stream.
    """

    def __init__(self, p: float, members: int) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability {p} is outside [0, 1)")
        self.p, self.members = p, members
        self.generators: list[torch.Generator] | None = None

    def forward(self, x: Tensor) -> Tensor:
        """x times a fresh mask of each member, scaled by 1/(1-p), in training mode."""
        if not self.training or self.p == 0:
            return x
        none: list[torch.Generator | None] = [None] * self.members
        generators = self.generators or none
        if len(generators) != self.members:
            raise ValueError(f"{len(generators)} dropout generators for {self.members} members")
        parts = x.chunk(self.members, dim=1) if self.members > 1 else (x,)
        masks = [
            torch.empty(part.shape, dtype=x.dtype, device=x.device)
            .bernoulli_(1 - self.p, generator=g)
            .div_(1 - self.p)
            for part, g in zip(parts, generators, strict=True)
        ]
        return x * (masks[0] if len(masks) == 1 else torch.cat(masks, 1))

    def extra_repr(self) -> str:
        return f"p={self.p}, members={self.members}"


def own_dropout(model: nn.Module, members: int = 1) -> nn.Module:
    """`model` with each nn.Dropout leaf replaced by a MemberDropout of `members` (in place)."""
    for name, module in list(model.named_modules()):
        if name and isinstance(module, nn.Dropout | MemberDropout):
            parent, _, leaf = name.rpartition(".")
            owner = model.get_submodule(parent) if parent else model
            setattr(owner, leaf, MemberDropout(module.p, members))
    return model


def set_dropout_generators(model: nn.Module, generators: list[torch.Generator]) -> None:
    """The generators every MemberDropout of `model` draws its members' masks from."""
    for module in model.modules():
        if isinstance(module, MemberDropout):
            module.generators = generators


def stack_refusal(model: nn.Module) -> str | None:
    """Why `model` cannot be stacked exactly, or None when every leaf layer can."""
    for name, module in model.named_modules():
        where = f"{type(module).__name__} at {name or '<root>'}"
        if list(module.children()):
            own = [n for n, _ in module.named_parameters(recurse=False)]
            own += [n for n, _ in module.named_buffers(recurse=False)]
            if own:
                return f"{where} holds tensors of its own ({', '.join(own)}) outside known layers"
            continue
        if isinstance(module, nn.Dropout | MemberDropout):
            continue  # each member's masks from its own generator (MemberDropout)
        if isinstance(module, nn.Dropout2d | nn.AlphaDropout):
            if module.p > 0:
                # Masks per channel map or with alpha scaling: not (yet) drawn per member.
                return (
                    f"{where} (p={module.p}) drops whole channels or alpha-scales its output; "
                    "of the dropouts only nn.Dropout stacks"
                )
        elif isinstance(module, nn.Conv2d):
            if module.padding_mode != "zeros":
                return f"{where} has padding_mode {module.padding_mode!r}"
        elif isinstance(module, nn.BatchNorm2d):
            if not module.track_running_stats:
                return f"{where} does not track running statistics"
        elif isinstance(module, nn.Flatten):
            if (module.start_dim, module.end_dim) != (1, -1):
                return f"{where} flattens dims {module.start_dim}..{module.end_dim}, not 1..-1"
        elif not isinstance(module, (nn.Linear, *ELEMENTWISE)):
            return f"{where} is not a layer the stacked rewrite knows"
    return None


def _stacked_leaf(module: nn.Module, members: int) -> nn.Module:
    """The R-member version of one leaf layer, with parameters on the meta device."""
    meta = torch.device("meta")
    if isinstance(module, nn.Conv2d):
        return nn.Conv2d(
            module.in_channels * members,
            module.out_channels * members,
            module.kernel_size,  # type: ignore[arg-type]
            module.stride,  # type: ignore[arg-type]
            module.padding,  # type: ignore[arg-type]
            module.dilation,  # type: ignore[arg-type]
            module.groups * members,
            module.bias is not None,
            device=meta,
        )
    if isinstance(module, nn.BatchNorm2d):
        return nn.BatchNorm2d(
            module.num_features * members,
            module.eps,
            module.momentum,
            module.affine,
            module.track_running_stats,
            device=meta,
        )
    if isinstance(module, nn.Dropout | MemberDropout):
        return MemberDropout(module.p, members)
    if isinstance(module, nn.Linear):
        return StackedLinear(
            members, module.in_features, module.out_features, module.bias is not None
        )
    return module


def stack_states(states: list[dict[str, Any]]) -> dict[str, Tensor]:
    """One stacked state from the members' states (model or optimiser tensors alike)."""
    stacked = {}
    for key, first in states[0].items():
        if first.dim() == 0:
            if any(not torch.equal(s[key], first) for s in states[1:]):
                raise ValueError(f"members disagree on the shared scalar {key!r}")
            stacked[key] = first.clone()
        else:
            stacked[key] = torch.cat([s[key] for s in states], 0)
    return stacked


def member_tensor(tensor: Tensor, member: int, members: int) -> Tensor:
    """Member `member`'s slice of a stacked tensor (a view); 0-dim tensors are shared."""
    if tensor.dim() == 0:
        return tensor
    return tensor.view(members, -1, *tensor.shape[1:])[member]


def member_state(state: dict[str, Tensor], member: int, members: int) -> dict[str, Tensor]:
    """A member's own state_dict (copies on the CPU), in the format the single model has."""
    return {k: member_tensor(v, member, members).detach().cpu().clone() for k, v in state.items()}


def stack_optimizer_states(states: list[dict[str, Any]]) -> dict[str, Any]:
    """The state_dict of one optimiser over the stacked parameters, from the members' own."""
    first = states[0]
    per_param = {
        index: stack_states([s["state"][index] for s in states]) for index in first["state"]
    }
    return {"state": per_param, "param_groups": copy.deepcopy(first["param_groups"])}


def member_optimizer_state(state: dict[str, Any], member: int, members: int) -> dict[str, Any]:
    """A member's optimiser state_dict, as its own optimiser over its own parameters has it."""
    return {
        "state": {i: member_state(s, member, members) for i, s in state["state"].items()},
        "param_groups": copy.deepcopy(state["param_groups"]),
    }


Snapshot = tuple[dict[str, Any], dict[str, Any]]  # a member's (model, optimiser) state


def member_snapshot(stacked: Snapshot, member: int, members: int) -> Snapshot:
    """A member's own (model, optimiser) state, in the single-run format, from the stacked
    (model, optimiser) state; a group of one's is the stacked state itself."""
    model, optimizer = stacked
    if members == 1:
        return model, optimizer
    return member_state(model, member, members), member_optimizer_state(optimizer, member, members)


class StackedModel(nn.Module):
    """R members as one module: R×B×C×H×W in, R×B×classes out. R=1 wraps the plain model."""

    def __init__(self, module: nn.Module, members: int, channels_last: bool = True) -> None:
        super().__init__()
        self.module, self.members, self.channels_last = module, members, channels_last

    def forward(self, x: Tensor) -> Tensor:
        """Member r's batch x[r] goes through member r's weights only."""
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        if self.members == 1:
            return self.module(x[0].contiguous(memory_format=fmt)).unsqueeze(0)
        r, b, c, h, w = x.shape
        if self.channels_last:  # build B×H×W×(R·C) memory directly: one copy
            joined = x.permute(1, 3, 4, 0, 2).reshape(b, h, w, r * c).permute(0, 3, 1, 2)
        else:
            joined = x.transpose(0, 1).reshape(b, r * c, h, w)
        return self.module(joined).view(b, r, -1).transpose(0, 1)

    def member_states(self) -> list[dict[str, Tensor]]:
        """Every member's own model state_dict, loadable into the plain model."""
        state = self.module.state_dict()
        return [member_state(state, m, self.members) for m in range(self.members)]


def stack_models(models: list[nn.Module], channels_last: bool = True) -> StackedModel:
    """The members as one StackedModel on their device; raise ValueError if they cannot stack."""
    reason = stack_refusal(models[0])
    if reason is not None:
        raise ValueError(reason)
    if len(models) == 1:
        return StackedModel(own_dropout(models[0]), 1, channels_last)
    members = len(models)
    skeleton = copy.deepcopy(models[0])
    for name, module in list(skeleton.named_modules()):
        if not list(module.children()) and name:
            parent, _, leaf = name.rpartition(".")
            owner = skeleton.get_submodule(parent) if parent else skeleton
            setattr(owner, leaf, _stacked_leaf(module, members))
    skeleton.load_state_dict(stack_states([m.state_dict() for m in models]), assign=True)
    if channels_last:
        skeleton.to(memory_format=torch.channels_last)
    return StackedModel(skeleton, members, channels_last)


@torch.no_grad()
def probe(stacked: StackedModel, models: list[nn.Module], image_size: int) -> str | None:
    """Why the stacked forward differs from the members' own (eval mode), or None if it matches.

    Catches what the leaf check cannot see: a forward() that reshapes with fixed channel counts
    or mixes channels outside the known layers.
    """
    device = next(stacked.parameters()).device
    g = torch.Generator().manual_seed(0)
    x = torch.randn(len(models), 2, 3, image_size, image_size, generator=g).to(device)
    was_training = [m.training for m in models]
    stacked.eval()
    for m in models:
        m.eval()
    try:
        got = stacked(x).float()
        want = torch.stack([m(x[i].contiguous()).float() for i, m in enumerate(models)])
    except RuntimeError as error:
        return f"the stacked forward fails: {str(error).splitlines()[0]}"
    finally:
        stacked.train()
        for m, training in zip(models, was_training, strict=True):
            m.train(training)
    scale = want.abs().max().clamp_min(1e-6)
    worst = float((got - want).abs().max() / scale)
    return None if worst < PROBE_TOLERANCE else f"stacked outputs differ by {worst:.2e}"


def try_stack(
    models: list[nn.Module], image_size: int, channels_last: bool = True
) -> StackedModel | None:
    """The members stacked and checked, or None with a log line saying why they run one by one."""
    try:
        stacked = stack_models(models, channels_last)
    except ValueError as error:
        log.info("training %d members one by one: %s", len(models), error)
        return None
    reason = None if len(models) == 1 else probe(stacked, models, image_size)
    if reason is not None:
        log.info("training %d members one by one: %s", len(models), reason)
        return None
    return stacked
