"""`initlab worker` slot planning: one process per slot, pinned to its GPU."""

from __future__ import annotations

from store.config import Settings
from worker.launch import celery_argv, plan_slots


def test_gpu_slots_are_pinned_one_gpu_each() -> None:
    slots = plan_slots(["0", "1"], slots_per_gpu=2, cpu_slots=1)
    assert [s.name for s in slots] == ["gpu0-0", "gpu0-1", "gpu1-0", "gpu1-1"]
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in slots] == ["0", "0", "1", "1"]
    assert {s.env["INITLAB_DEVICE"] for s in slots} == {"cuda"}


def test_cpu_slots_hide_gpus_and_share_threads() -> None:
    slots = plan_slots([], slots_per_gpu=4, cpu_slots=2)
    assert [s.name for s in slots] == ["cpu-0", "cpu-1"]
    assert all(
        s.env["CUDA_VISIBLE_DEVICES"] == "" and s.env["INITLAB_DEVICE"] == "cpu" for s in slots
    )


def test_worker_command_runs_one_task_at_a_time() -> None:
    argv = celery_argv(plan_slots(["3"], 1, 1)[0], Settings(queue_name="runs"))
    assert argv[argv.index("--pool") + 1] == "solo"
    assert argv[argv.index("--concurrency") + 1] == "1"
    assert argv[argv.index("-n") + 1] == "gpu3-0@%h"
    assert argv[argv.index("-Q") + 1] == "runs"
