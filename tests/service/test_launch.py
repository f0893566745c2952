"""`initlab worker` slot planning: one process per slot, pinned to its GPU."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
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


def test_gpu_indices_map_through_the_inherited_visible_devices() -> None:
    """Under a scheduler that set CUDA_VISIBLE_DEVICES=2,3, `--gpus 0,1` are cards 2 and 3."""
    slots = plan_slots(["0", "1"], 1, 1, environ={"CUDA_VISIBLE_DEVICES": "2,3"})
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in slots] == ["2", "3"]
    assert [s.name for s in slots] == ["gpu0-0", "gpu1-0"]
    assert {s.env["CUDA_DEVICE_ORDER"] for s in slots} == {"PCI_BUS_ID"}


def test_uuid_and_mig_lists_are_mapped_by_position() -> None:
    uuid = "GPU-8c3b2a1e-0f4d-4c5e-9a7b-1d2e3f405162"
    mig = "MIG-4a5b6c7d-1111-2222-3333-444455556666"
    environ = {"CUDA_VISIBLE_DEVICES": f"{uuid}, {mig}"}
    slots = plan_slots(["1", "0"], 2, 1, environ=environ)
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in slots] == [mig, mig, uuid, uuid]
    named = plan_slots([mig], 1, 1, environ=environ)  # a name from the list stands for itself
    assert named[0].env["CUDA_VISIBLE_DEVICES"] == mig


def test_without_an_inherited_list_gpus_are_physical_and_pci_ordered() -> None:
    slots = plan_slots(["3", "GPU-abc"], 1, 1, environ={})
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in slots] == ["3", "GPU-abc"]
    assert {s.env["CUDA_DEVICE_ORDER"] for s in slots} == {"PCI_BUS_ID"}
    kept = plan_slots(["0"], 1, 1, environ={"CUDA_DEVICE_ORDER": "FASTEST_FIRST"})
    assert kept[0].env["CUDA_DEVICE_ORDER"] == "FASTEST_FIRST"  # chosen by whoever set it


def test_a_gpu_the_inherited_list_does_not_show_is_refused_with_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"index 2 is not visible.*valid indices: 0, 1"):
        plan_slots(["0", "2"], 1, 1, environ={"CUDA_VISIBLE_DEVICES": "5,7"})
    with pytest.raises(ValueError, match=r"GPU-other.*not among.*GPU-a,GPU-b"):
        plan_slots(["GPU-other"], 1, 1, environ={"CUDA_VISIBLE_DEVICES": "GPU-a,GPU-b"})
    with pytest.raises(ValueError, match=r"'cuda:0' is not an index"):
        plan_slots(["cuda:0"], 1, 1, environ={})
    # CUDA reads the list up to its first invalid entry: "-1" hides every GPU.
    with pytest.raises(ValueError, match=r"shows 0 GPU\(s\); valid indices: none"):
        plan_slots(["0"], 1, 1, environ={"CUDA_VISIBLE_DEVICES": "-1,0"})
    with pytest.raises(ValueError, match=r"shows 1 GPU"):
        plan_slots(["1"], 1, 1, environ={"CUDA_VISIBLE_DEVICES": "4,bogus,5"})


def test_worker_command_refuses_an_invisible_gpu_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "2,3", "INITLAB_STATE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", "from initlab.cli import main; main()", "worker", "--gpus", "0,2"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "initlab: error: --gpus 0,2: GPU index 2 is not visible: CUDA_VISIBLE_DEVICES='2,3' "
        "shows 2 GPU(s); valid indices: 0, 1"
    ]


def test_every_slot_starts_with_the_cublas_workspace_and_its_share_of_the_gpu() -> None:
    """cuBLAS reads CUBLAS_WORKSPACE_CONFIG once per process: set before a slot starts, a
    deterministic run reproduces whatever its slot ran before (the image sets it too)."""
    gpu = plan_slots(["0", "1"], 4, 1, environ={})
    cpu = plan_slots([], 1, 2, environ={})
    assert {s.env["CUBLAS_WORKSPACE_CONFIG"] for s in gpu + cpu} == {":4096:8"}
    assert {s.env["INITLAB_SLOTS_PER_GPU"] for s in gpu} == {"4"}
    own = plan_slots(["0"], 1, 1, environ={"CUBLAS_WORKSPACE_CONFIG": ":16:8"})
    assert own[0].env["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"  # a smaller workspace, if chosen
    assert "CUBLAS_WORKSPACE_CONFIG=:4096:8" in (REPO / "Dockerfile").read_text()
    fresh = {k: v for k, v in os.environ.items() if k != "CUBLAS_WORKSPACE_CONFIG"}
    probe = "import os, core.training.numerics; print(os.environ['CUBLAS_WORKSPACE_CONFIG'])"
    done = subprocess.run([sys.executable, "-c", probe], env=fresh, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == ":4096:8", done.stderr  # `initlab run` sets it on import


def test_a_slot_takes_one_kth_of_its_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """(A GPU faked: none is here.) K = 1 and CPU slots leave the allocator alone."""
    import torch

    from worker.runtime import limit_device_memory

    fractions: list[float] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_per_process_memory_fraction", fractions.append)
    assert limit_device_memory("cuda", {"INITLAB_SLOTS_PER_GPU": "4"}) == 0.25
    assert limit_device_memory("cuda", {"INITLAB_SLOTS_PER_GPU": "1"}) is None
    assert limit_device_memory("cpu", {"INITLAB_SLOTS_PER_GPU": "4"}) is None
    assert fractions == [0.25]


def test_a_worker_that_requires_a_gpu_and_sees_none_exits_1_in_one_line(tmp_path: Path) -> None:
    """Real here: this machine's torch is a CUDA build and there is no NVIDIA driver."""
    env = {**os.environ, "INITLAB_REQUIRE_GPU": "1", "INITLAB_STATE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", "from initlab.cli import main; main()", "worker"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("initlab: error: INITLAB_REQUIRE_GPU=1 and no usable GPU: torch ")
    assert "driver" in line or "CPU-only" in line, line
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    worker_env = compose["services"]["worker"]["environment"]
    assert worker_env["INITLAB_REQUIRE_GPU"] == "1" and "INITLAB_BROKER_URL" in worker_env


def test_the_image_default_torch_build_is_in_the_readme_driver_table() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    match = re.search(r"^ARG TORCH_CUDA=(\S+)$", dockerfile, re.MULTILINE)
    assert match, "the Dockerfile picks torch's CUDA build with ARG TORCH_CUDA"
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## GPU workers") :]
    assert f"| `{match.group(1)}` |" in section
    assert "download.pytorch.org/whl/${TORCH_CUDA}" in dockerfile.replace(
        "{os.environ['TORCH_CUDA']}", "${TORCH_CUDA}"
    )
