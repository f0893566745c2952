"""`initlab worker` slot planning: one process per slot, pinned to its GPU."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

from store.config import Settings
from tests.service.servers import wait_for
from worker.launch import Supervisor, celery_argv, node_name, plan_slots

REPO = Path(__file__).resolve().parents[2]


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
    # A suffix per start (issue 24): cloned hosts of one hostname stay distinct owners.
    assert re.fullmatch(r"gpu3-0@%h-[0-9a-f]{6}", argv[argv.index("-n") + 1])
    # A GPU slot consumes the cuda class's queue and the queue of `any` (issue 24).
    assert argv[argv.index("-Q") + 1] == "runs.cuda,runs"
    cpu = celery_argv(plan_slots([], 1, 1)[0], Settings(queue_name="runs"))
    assert cpu[cpu.index("-Q") + 1] == "runs.cpu,runs"


def test_two_workers_of_one_host_name_get_distinct_node_names() -> None:
    settings = Settings(host_name="clone")
    slot = plan_slots([], 1, 1)[0]
    names = {celery_argv(slot, settings)[celery_argv(slot, settings).index("-n") + 1]}
    names |= {node_name(slot, settings) for _ in range(20)}
    assert len(names) == 21 and all(re.fullmatch(r"cpu-0@clone-[0-9a-f]{6}", n) for n in names)


def test_one_stop_grace_for_the_supervisor_and_compose() -> None:
    """compose's SIGKILL and the supervisor's both come after INITLAB_STOP_GRACE, the
    supervisor's a few seconds first, so that it kills its own stragglers."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    period = compose["services"]["worker"]["stop_grace_period"]
    match = re.fullmatch(r"\$\{INITLAB_STOP_GRACE:-(\d+)\}s", period)
    assert match, period
    default = Settings().stop_grace
    assert float(match.group(1)) == default == 120
    assert default - 10 < Supervisor(default).grace < default


def test_supervisor_kills_a_child_that_outlives_the_grace(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    stubborn = (
        "import signal, sys, time, pathlib; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "pathlib.Path(sys.argv[1]).touch(); time.sleep(60)"
    )
    supervisor = Supervisor(stop_grace=1.0)
    supervisor.start("stubborn", [sys.executable, "-c", stubborn, str(ready)])
    wait_for(ready.exists, 30, 0.02, "the child to ignore SIGTERM")
    supervisor.stop()
    assert supervisor.children[0][1].returncode == -9  # SIGKILL after the grace
