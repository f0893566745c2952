"""Named, complete experiment specs: the paper's protocols and the embedded CPU demo."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.registry import Registry
from core.spec import ExperimentSpec, parse_spec

PRESETS: Registry[Callable[[], dict[str, Any]]] = Registry("preset")


def get_preset(name: str) -> ExperimentSpec:
    """The validated spec of preset `name`."""
    return parse_spec(PRESETS.get(name)())


@PRESETS.register("demo-digits")
def demo_digits() -> dict[str, Any]:
    """CPU demo: small_cnn on scikit-learn's digits; original vs Smart-Init vs warm start.

    The paper's protocol scaled to a data set that ships with scikit-learn: AdamW, exponential
    decay per epoch, stages with fresh hyper-parameters, paired repeats (Sections II and III).
    """
    return {
        "name": "demo-digits",
        "model": "small_cnn",
        "dataset": {"name": "digits"},
        "training": {"lr": 0.003, "batch_size": 32, "epochs": 15, "lr_decay": 0.9},
        "arms": [
            {"name": "original", "method": "original", "preprocess_epochs": 1},
            {
                "name": "smart-init",
                "method": "smart_init",
                "stages": [{"fraction": 0.05, "epochs": 5}, {"fraction": 0.25, "epochs": 5}],
            },
            {
                "name": "warm-start",
                "method": "warm_start",
                "stages": [{"fraction": 0.5, "epochs": 15}],
            },
        ],
        "baseline": "original",
        "repeats": 5,
        "seed": 0,
    }
