"""Initialisation schemes an arm can start from (ArmSpec.init), applied before any stage.

Every scheme but `pytorch` re-initialises each convolution and linear layer's weight W (fan_in =
in_channels/groups · kernel area, fan_out = out_channels/groups · kernel area, as torch computes
them), sets their biases to 0, and sets normalisation layers to weight 1, bias 0. `gain` is the
ReLU gain √2 where the scheme's derivation is for ReLU networks (Kaiming, orthogonal as Saxe et
al. recommend for ReLU); Xavier keeps its published gain 1. All draws come from one generator
seeded by (experiment seed, repeat), so arms with the same scheme start bit-identical and arms
with different schemes differ only by the scheme.

- pytorch: PyTorch's (or the model's own) per-layer defaults, untouched.
- kaiming_normal: W ~ N(0, 2/fan_in) (He et al. 2015, "Delving deep into rectifiers").
- kaiming_uniform: W ~ U(-b, b), b = √2·√(3/fan_in) (ibid.).
- xavier_normal: W ~ N(0, 2/(fan_in + fan_out)) (Glorot & Bengio 2010).
- xavier_uniform: W ~ U(-b, b), b = √(6/(fan_in + fan_out)) (ibid.).
- orthogonal: W reshaped to out × (in·k·k) is √2 times a (semi-)orthogonal matrix: the Q of a QR
  decomposition of a standard normal matrix, signs fixed by R's diagonal (Saxe et al. 2014).
- lsuv: layer-sequential unit variance (Mishkin & Matas 2016, "All you need is a good init",
  Algorithm 1): orthogonal pre-init with gain 1, then for each conv/linear layer in forward
  order, while |Var(output) - 1| > LSUV_TOLERANCE and fewer than LSUV_MAX_ITERATIONS tries,
  W ← W / √Var(output) on one training batch of LSUV_BATCH images. The `lsuv` package on PyPI
  (by the paper's author) was read and not used: it keeps its state in module globals, draws
  from torch's global RNG, orders layers by registration rather than execution, and prints.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

import torch
from torch import Tensor, nn

from core.data.base import Dataset
from core.registry import Registry
from core.training.train import Preprocess

LSUV_TOLERANCE = 0.1  # the paper's Tol_var
LSUV_MAX_ITERATIONS = 10  # the paper's T_max
LSUV_BATCH = 256  # images in the batch whose output variances LSUV equalises
RELU_GAIN = math.sqrt(2.0)
WEIGHTED = (nn.modules.conv._ConvNd, nn.Linear)
NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)

WeightInit = Callable[[Tensor, torch.Generator], object]
Scheme = Callable[[nn.Module, torch.Generator, Callable[[], Tensor]], None]
SCHEMES: Registry[Scheme] = Registry("init scheme")


class InitError(RuntimeError):
    """An init scheme cannot be applied (e.g. LSUV meets a layer whose output is constant)."""


def reset_layers(model: nn.Module, weight_init: WeightInit, generator: torch.Generator) -> None:
    """`weight_init` on every conv/linear weight; their biases 0; norm layers weight 1, bias 0."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, WEIGHTED):
                weight_init(module.weight, generator)
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, NORMS):
                if getattr(module, "weight", None) is not None:
                    module.weight.fill_(1.0)
                if getattr(module, "bias", None) is not None:
                    module.bias.zero_()


def _weights(weight_init: WeightInit) -> Scheme:
    def scheme(model: nn.Module, generator: torch.Generator, batch: Callable[[], Tensor]) -> None:
        reset_layers(model, weight_init, generator)

    return scheme


SCHEMES.register("pytorch")(lambda model, generator, batch: None)
SCHEMES.register("kaiming_normal")(_weights(
    lambda w, g: nn.init.kaiming_normal_(w, nonlinearity="relu", generator=g)))
SCHEMES.register("kaiming_uniform")(_weights(
    lambda w, g: nn.init.kaiming_uniform_(w, nonlinearity="relu", generator=g)))
SCHEMES.register("xavier_normal")(_weights(lambda w, g: nn.init.xavier_normal_(w, generator=g)))
SCHEMES.register("xavier_uniform")(_weights(lambda w, g: nn.init.xavier_uniform_(w, generator=g)))
SCHEMES.register("orthogonal")(_weights(
    lambda w, g: nn.init.orthogonal_(w, gain=RELU_GAIN, generator=g)))


def forward_order(model: nn.Module, x: Tensor) -> list[nn.Module]:
    """The conv/linear layers in the order one forward pass calls them (first call counts)."""
    order: list[nn.Module] = []
    hooks = [m.register_forward_hook(lambda m, i, o: order.append(m) if m not in order else None)
             for m in model.modules() if isinstance(m, WEIGHTED)]
    try:
        model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return order


def output_variance(model: nn.Module, layer: nn.Module, x: Tensor) -> float:
    """Variance of `layer`'s output over every element, in one forward pass of `x`."""
    seen: list[float] = []
    hook = layer.register_forward_hook(lambda m, i, o: seen.append(float(o.float().var())))
    try:
        model(x)
    finally:
        hook.remove()
    return seen[0]


@SCHEMES.register("lsuv")
def lsuv(model: nn.Module, generator: torch.Generator, batch: Callable[[], Tensor]) -> None:
    """Mishkin & Matas (2016), Algorithm 1; normalisation statistics are left as they were."""
    reset_layers(model, lambda w, g: nn.init.orthogonal_(w, generator=g), generator)
    x = batch()
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    was_training = model.training
    model.train()  # the network as training will first see it (batch statistics in BN)
    try:
        with torch.no_grad():
            for layer in forward_order(model, x):
                for _ in range(LSUV_MAX_ITERATIONS):
                    variance = output_variance(model, layer, x)
                    if not math.isfinite(variance) or variance <= 1e-12:
                        raise InitError(f"lsuv: {type(layer).__name__} output variance is "
                                        f"{variance}; cannot scale it to 1")
                    if abs(variance - 1.0) <= LSUV_TOLERANCE:
                        break
                    cast(Tensor, layer.weight).div_(math.sqrt(variance))
    finally:
        model.train(was_training)
        with torch.no_grad():  # BN running statistics must not depend on the init batch
            for name, value in model.named_buffers():
                value.copy_(buffers[name])


def apply_init(
    model: nn.Module, scheme: str, data: Dataset, normalize: str, generator: torch.Generator
) -> None:
    """Apply init scheme `scheme` to `model` (on the CPU) in place, drawing from `generator`.

    LSUV's batch is LSUV_BATCH training images drawn from the same generator, preprocessed as
    evaluation batches are (normalised, no augmentation).
    """

    def batch() -> Tensor:
        train = data.train
        index = torch.randperm(len(train), generator=generator)[:LSUV_BATCH]
        cpu = torch.device("cpu")
        pre = Preprocess.build(data.mean, data.std, normalize=normalize, augment=False,
                               device=cpu, channels_last=False)
        return pre(train.images[index.to(train.images.device)].to(cpu))

    SCHEMES.get(scheme)(model, generator, batch)
