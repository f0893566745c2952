"""Start and supervise service processes: Celery worker slots, the API, the dashboard."""

from __future__ import annotations

import ctypes
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType

from runqueue.app import served_queues
from store.config import Settings


@dataclass(frozen=True)
class Slot:
    """One worker process: its Celery node name and the environment that pins its device."""

    name: str
    env: dict[str, str] = field(default_factory=dict)


# nvidia-smi, NVML and schedulers (Slurm, Kubernetes) number GPUs by PCI bus; CUDA's own
# default order (fastest first) can give the same index to another card.
DEVICE_ORDER = "PCI_BUS_ID"
CUBLAS_WORKSPACE = ":4096:8"  # the setting PyTorch documents for deterministic cuBLAS


def _is_device_name(entry: str) -> bool:
    """Whether `entry` is what CUDA_VISIBLE_DEVICES accepts: an index, a GPU- UUID, a MIG- name."""
    return entry.isdigit() or entry.startswith(("GPU-", "MIG-"))


def inherited_devices(environ: Mapping[str, str]) -> list[str] | None:
    """The inherited CUDA_VISIBLE_DEVICES as a list, None when unset (every GPU visible).

    CUDA stops reading the list at its first invalid entry ("-1" hides every GPU): so do we.
    """
    value = environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    devices: list[str] = []
    for entry in (e.strip() for e in value.split(",")):
        if not _is_device_name(entry):
            break
        devices.append(entry)
    return devices


def map_gpu(gpu: str, inherited: list[str] | None) -> str:
    """The CUDA_VISIBLE_DEVICES value that shows a slot the GPU `--gpus` calls `gpu`.

    An index counts among the GPUs this process sees: under a scheduler that set
    CUDA_VISIBLE_DEVICES=2,3, `--gpus 1` is card 3. A UUID or MIG name stands for itself.
    """
    gpu = gpu.strip()
    if not _is_device_name(gpu):
        raise ValueError(
            f"GPU {gpu!r} is not an index, a GPU- UUID or a MIG- name (nvidia-smi -L lists them)"
        )
    if inherited is None:
        return gpu
    if not gpu.isdigit():
        if gpu not in inherited:
            raise ValueError(
                f"GPU {gpu!r} is not among the inherited CUDA_VISIBLE_DEVICES "
                f"({','.join(inherited) or 'none'})"
            )
        return gpu
    index = int(gpu)
    if index >= len(inherited):
        valid = ", ".join(map(str, range(len(inherited)))) or "none"
        raise ValueError(
            f"GPU index {index} is not visible: CUDA_VISIBLE_DEVICES="
            f"{','.join(inherited)!r} shows {len(inherited)} GPU(s); valid indices: {valid}"
        )
    return inherited[index]


def gpu_slot_env(gpu: str, slots_per_gpu: int, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment that pins one GPU slot to its card, in the inherited device order, and
    tells it how many slots share that card (each takes 1/K of its memory)."""
    return {
        "CUDA_VISIBLE_DEVICES": map_gpu(gpu, inherited_devices(environ)),
        "CUDA_DEVICE_ORDER": environ.get("CUDA_DEVICE_ORDER") or DEVICE_ORDER,
        "INITLAB_DEVICE": "cuda",
        "INITLAB_SLOTS_PER_GPU": str(slots_per_gpu),
        **determinism_env(environ),
    }


def determinism_env(environ: Mapping[str, str]) -> dict[str, str]:
    """cuBLAS reads its workspace setting once per process, at its first call: set before the
    process starts, a run marked deterministic reproduces whatever the slot ran before."""
    return {"CUBLAS_WORKSPACE_CONFIG": environ.get("CUBLAS_WORKSPACE_CONFIG") or CUBLAS_WORKSPACE}


def gpu_problem() -> str | None:
    """Why this process sees no usable GPU, in one line naming the driver or device problem;
    None when it sees one. (`initlab worker` with INITLAB_REQUIRE_GPU=1 exits on it, rather
    than quietly starting a CPU slot under a torch build too new for the driver.)"""
    import torch

    build = f"torch {torch.__version__}"
    if torch.version.cuda is None:
        return f"{build} is a CPU-only build (rebuild the image with --build-arg TORCH_CUDA=cu...)"
    try:
        torch.cuda.init()
    except Exception as error:  # the driver's own words: missing, too old, no device
        words = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"{build} (CUDA {torch.version.cuda}) cannot use the GPU: {words}"
    if torch.cuda.device_count() == 0:
        shown = os.environ.get("CUDA_VISIBLE_DEVICES")
        return f"{build} sees no GPU (CUDA_VISIBLE_DEVICES={shown!r})"
    return None


def plan_slots(
    gpus: Sequence[str],
    slots_per_gpu: int,
    cpu_slots: int,
    reserved_cores: int = 0,
    environ: Mapping[str, str] | None = None,
) -> list[Slot]:
    """K slots per listed GPU (each sees only its GPU), or `cpu_slots` CPU slots.

    `gpus` are named as this process sees them (`environ`, default os.environ; see map_gpu).
    `reserved_cores` are left to other processes (the API and dashboard under `initlab up`):
    intra-op threads that outnumber free cores spin against each other, and small models then
    train several times slower (the digits demo: 38 s with 1 thread, 384 s with 2, loaded CPU).
    """
    if gpus:
        environ = os.environ if environ is None else environ
        # Every bad entry is refused before any slot starts.
        envs = {gpu: gpu_slot_env(gpu, slots_per_gpu, environ) for gpu in gpus}
        return [
            Slot(f"gpu{gpu}-{k}", dict(envs[gpu])) for gpu in gpus for k in range(slots_per_gpu)
        ]
    # CPU slots share the cores; each gets its share of intra-op threads.
    threads = str(max(1, ((os.cpu_count() or 1) - reserved_cores) // max(1, cpu_slots)))
    return [
        Slot(
            f"cpu-{k}",
            {
                "CUDA_VISIBLE_DEVICES": "",
                "INITLAB_DEVICE": "cpu",
                "OMP_NUM_THREADS": threads,
                "MKL_NUM_THREADS": threads,
                **determinism_env(os.environ if environ is None else environ),
            },
        )
        for k in range(cpu_slots)
    ]


def node_name(slot: Slot, settings: Settings) -> str:
    """`slot@host-suffix`: the host as INITLAB_HOST_NAME or the machine says, and a suffix
    unique to this start, so that cloned hosts of one hostname stay distinct owners."""
    return f"{slot.name}@{settings.host_name or '%h'}-{secrets.token_hex(3)}"


def celery_argv(slot: Slot, settings: Settings, loglevel: str = "INFO") -> list[str]:
    """The command of one slot: a solo-pool worker, one run at a time, nothing prefetched."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.tasks:app",
        "worker",
        "--pool",
        "solo",
        "--concurrency",
        "1",
        "-n",
        node_name(slot, settings),
        "-Q",
        ",".join(served_queues(settings, slot.env.get("INITLAB_DEVICE", settings.device))),
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel",
        loglevel,
    ]


def child_grace(stop_grace: float) -> float:
    """How long children get after SIGTERM: INITLAB_STOP_GRACE less a margin (5 s, at most a
    tenth), so the supervisor kills stragglers itself before compose's SIGKILL, which comes
    after the same INITLAB_STOP_GRACE (docker-compose.yml)."""
    return stop_grace - min(5.0, stop_grace / 10)


# A slot whose CUDA context broke exits with this code (EX_TEMPFAIL; worker/tasks.py): its
# supervisor starts that slot again, and no other.
RESTART_EXIT = 75
RESTARTS_PER_WINDOW = (3, 600.0)  # more restarts than this in the window: give up, stop all
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int) -> None:
    """In a child before exec: SIGTERM when the supervisor dies, even by SIGKILL (Linux's
    parent-death signal); a child in its own session gets no Ctrl-C and would live on,
    holding its runs. Elsewhere (no prctl) the child still stops with a supervisor that ends."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the supervisor died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


class Supervisor:
    """Children in their own sessions, dying with it; SIGINT/SIGTERM or one child's exit stops
    them all, except a slot that asks for a restart (RESTART_EXIT): that one starts again."""

    def __init__(self, stop_grace: float) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.commands: dict[str, tuple[list[str], dict[str, str]]] = {}
        self.restarts: dict[str, list[float]] = {}
        self.grace = child_grace(stop_grace)
        self._stopping = False

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.commands[name] = (argv, dict(env or {}))
        self.children.append((name, self._spawn(argv, env or {})))

    @staticmethod
    def _spawn(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        parent = os.getpid()
        return subprocess.Popen(
            argv,
            env={**os.environ, **env},
            start_new_session=True,
            preexec_fn=lambda: die_with_parent(parent),
        )

    def restart(self, index: int) -> bool:
        """Start child `index` again if it asked to and has restarts left; True if it did."""
        name, process = self.children[index]
        if process.returncode != RESTART_EXIT:
            return False
        count, window = RESTARTS_PER_WINDOW
        now = time.monotonic()
        recent = [t for t in self.restarts.get(name, []) if now - t < window] + [now]
        self.restarts[name] = recent
        if len(recent) > count:
            print(f"initlab: {name} asked for a restart {len(recent)} times in "
                  f"{window:.0f}s; giving up", file=sys.stderr)
            return False
        print(f"initlab: {name} restarts (its device failed; its runs went back to the queue)",
              file=sys.stderr)
        argv, env = self.commands[name]
        self.children[index] = (name, self._spawn(argv, env))
        return True

    def _signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping = True

    def wait(self) -> int:
        """Block until a signal or a child exits; then stop every child. Returns an exit code."""
        previous = {s: signal.signal(s, self._signal) for s in (signal.SIGINT, signal.SIGTERM)}
        code = 0
        try:
            while not self._stopping:
                for index, (name, process) in enumerate(self.children):
                    if process.poll() is not None and not self.restart(index):
                        print(
                            f"initlab: {name} exited with code {process.returncode}; "
                            "stopping the others",
                            file=sys.stderr,
                        )
                        code = process.returncode or 1
                        self._stopping = True
                        break
                time.sleep(0.2)
        finally:
            self.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return code

    def stop(self) -> None:
        """SIGTERM every child (a worker hands its run back to the queue), SIGKILL stragglers."""
        for _, process in self.children:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + self.grace
        for name, process in self.children:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(
                    f"initlab: {name} did not stop in {self.grace:.0f}s; killing it",
                    file=sys.stderr,
                )
                process.kill()
                process.wait()
