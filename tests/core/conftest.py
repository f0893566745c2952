"""Shared fixtures for core tests: a small real data set (scikit-learn's digits) in memory."""

import pytest
import torch
from sklearn.datasets import load_digits

from core.data.base import Dataset, Split
from core.spec import ExperimentSpec, parse_spec


@pytest.fixture(scope="session")
def digits_small() -> Dataset:
    """600 train, 200 val, 200 test digits as uint8 3×8×8 images."""
    digits = load_digits()
    images = torch.tensor(digits.images * 255 / 16, dtype=torch.uint8)[:, None].repeat(1, 3, 1, 1)
    labels = torch.tensor(digits.target, dtype=torch.int64)
    part = lambda a, b: Split(images[a:b], labels[a:b])  # noqa: E731
    return Dataset(part(0, 600), part(600, 800), part(800, 1000), 10, (0.3,) * 3, (0.4,) * 3)


def tiny_spec(**overrides: object) -> ExperimentSpec:
    """A spec that trains small_cnn for a few epochs, with every method as an arm."""
    data = {
        "name": "tiny",
        "model": "small_cnn",
        "dataset": {"name": "digits"},
        "training": {"epochs": 3, "batch_size": 32, "lr": 0.003, "augment": "crop_flip"},
        "arms": [
            {"name": "original", "method": "original", "preprocess_epochs": 1},
            {
                "name": "smart",
                "method": "smart_init",
                "stages": [{"fraction": 0.1, "epochs": 2}, {"fraction": 0.3, "epochs": 2}],
            },
            {
                "name": "repeat",
                "method": "repeat",
                "times": 2,
                "stages": [{"fraction": 0.2, "epochs": 1}],
            },
            {"name": "warm", "method": "warm_start", "stages": [{"fraction": 0.5, "epochs": 2}]},
            {"name": "sp", "method": "shrink_perturb", "stages": [{"fraction": 0.5, "epochs": 1}]},
        ],
        "repeats": 2,
    }
    data.update(overrides)
    return parse_spec(data)
