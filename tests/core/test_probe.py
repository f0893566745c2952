"""The batch-repeats probe (core/training/group.py): enough timed training per candidate, the
libraries' own out-of-memory words, and a cache keyed on what changes the answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

import core.training.group as group
from core.spec import parse_spec
from core.training.bench import PROBE_STEPS

CPU = torch.device("cpu")
SHAPE = {"image_size": 8, "batch_size": 16, "num_classes": 10, "device": CPU, "precision": "fp32"}


def test_each_candidate_trains_at_least_half_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real loop on the CPU; the epochs of the second measurement, at the rate the first
    one measured, make at least PROBE_SECONDS (arithmetic on measured rates, not a timing)."""
    calls: list[tuple[int, int, float | None]] = []
    real = group.group_rate

    def recorded(model: str, members: int, **kwargs: Any) -> float | None:
        rate = real(model, members, **kwargs)
        calls.append((members, kwargs.get("repeats", 1), rate))
        return rate

    monkeypatch.setattr(group, "group_rate", recorded)
    group.probe_best("small_cnn", 2, **SHAPE)
    assert calls and len(calls) % 2 == 0
    for (members, _, first), (again, epochs, rate) in zip(calls[::2], calls[1::2], strict=True):
        assert members == again and first and rate
        assert epochs * members * PROBE_STEPS * SHAPE["batch_size"] / first >= group.PROBE_SECONDS


@pytest.mark.parametrize(
    "words",
    [
        "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
        "cuDNN error: CUDNN_STATUS_ALLOC_FAILED",
        "CUDA out of memory. Tried to allocate 2.00 GiB",
    ],
)
def test_an_allocation_failure_in_any_library_ends_the_probe(
    monkeypatch: pytest.MonkeyPatch, words: str
) -> None:
    """(The failures faked: no GPU here.) R=4 fails to allocate: R=2 is the answer."""

    def rate(model: str, members: int, **_: Any) -> float:
        if members == 4:
            raise RuntimeError(words)
        return 100.0 * members

    monkeypatch.setattr(group, "group_rate", rate)
    assert group.probe_best("small_cnn", 64, **SHAPE) == 2


def test_any_other_error_is_no_out_of_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any, **__: Any) -> float:
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    monkeypatch.setattr(group, "group_rate", broken)
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        group.probe_best("small_cnn", 8, **SHAPE)


def test_the_cache_keys_on_device_model_size_precision_and_slots(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """(The device faked.) The answer lives under the state directory; a change of precision
    or of slots per GPU measures again, the same ones read the cache."""
    monkeypatch.delenv("INITLAB_CACHE_DIR", raising=False)
    monkeypatch.setenv("INITLAB_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(group, "device_key", lambda _: "cuda:NVIDIA H100 80GB HBM3")
    probed: list[dict[str, Any]] = []

    def probe(model: str, limit: int, **shape: Any) -> int:
        probed.append(shape)
        return 4

    monkeypatch.setattr(group, "probe_best", probe)
    base = {"name": "p", "model": "small_cnn", "dataset": {"name": "digits"}, "repeats": 8,
            "arms": [{"name": "original", "method": "original"}]}
    cuda = torch.device("cuda")
    for precision, slots in (("bf16", "1"), ("bf16", "1"), ("fp32", "1"), ("fp32", "2")):
        monkeypatch.setenv("INITLAB_SLOTS_PER_GPU", slots)
        spec = parse_spec(base | {"training": {"precision": precision}})
        assert group.resolve_batch_repeats(spec, cuda, 32, 10) == 4
    assert [(s["precision"], s["image_size"]) for s in probed] == [("bf16", 32)] * 1 + [
        ("fp32", 32)
    ] * 2
    keys = sorted(json.loads((tmp_path / "cache" / "batch_repeats.json").read_text()))
    assert [k.split("|")[:6] for k in keys] == [
        ["cuda:NVIDIA H100 80GB HBM3", "small_cnn", "32px", "b64", "c10", "bf16"],
        ["cuda:NVIDIA H100 80GB HBM3", "small_cnn", "32px", "b64", "c10", "fp32"],
        ["cuda:NVIDIA H100 80GB HBM3", "small_cnn", "32px", "b64", "c10", "fp32"],
    ]
    assert sorted(k.split("|")[6] for k in keys) == ["K1", "K1", "K2"]
