"""Real service processes for the tests: uvicorn and Celery workers on a chosen backend."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from store.config import Settings
from worker.launch import Slot, celery_argv

REPO = Path(__file__).resolve().parents[2]
TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}  # /health lists workers only to a signed-in caller
# Fast liveness so the worker-loss tests finish in seconds, not minutes.
FAST = {
    "INITLAB_HEARTBEAT_INTERVAL": "0.5",
    "INITLAB_HEARTBEAT_TIMEOUT": "4",
    "INITLAB_SWEEP_INTERVAL": "0.5",
    "INITLAB_QUEUE_GRACE": "3",
    "INITLAB_STOP_POLL_INTERVAL": "0.2",
    "INITLAB_BROKER_POLL_INTERVAL": "0.05",
}


def free_port() -> int:
    """A port the OS says is free now; for servers that cannot take a socket (see listening)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening() -> socket.socket:
    """A socket bound to a port the OS chose and listening: held, so no one else can take it."""
    sock = socket.socket()
    # uvicorn --fd takes the socket for a Unix one and leaves Nagle's algorithm on; accepted
    # connections inherit this, else each small response waits ~40 ms for a delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def wait_for(
    predicate: Callable[[], Any], timeout: float = 60.0, every: float = 0.1, what: str = "condition"
) -> Any:
    """Poll until `predicate` returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


@dataclass
class Backend:
    """Where the store and the broker are: the environment every process gets."""

    name: str
    env: dict[str, str]


@dataclass
class Service:
    """One API server and the worker processes of a test module, with log files."""

    backend: Backend
    logs: Path
    # The API's socket: bound here and passed to each uvicorn (--fd), so the port stays ours
    # from the start, across API restarts, until stop().
    listener: socket.socket = field(default_factory=listening)
    api: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)  # worker pid -> Celery node name prefix
    worker_env: dict[str, str] = field(default_factory=dict)  # added to every worker's env

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": str(REPO),
            **FAST,
            "INITLAB_API_TOKEN": TOKEN,
            **self.backend.env,
            **extra,
        }

    def _spawn(
        self, name: str, argv: list[str], env: dict[str, str], pass_fds: tuple[int, ...] = ()
    ) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{self.backend.name}-{name}.log", "ab")  # noqa: SIM115
        return subprocess.Popen(
            argv,
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=pass_fds,
        )

    def start_api(self, wait: bool = True) -> None:
        self.api = self._spawn(
            "api",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "api.main:app",
                "--fd",
                str(self.listener.fileno()),
                "--log-level",
                "warning",
            ],
            self.env(),
            pass_fds=(self.listener.fileno(),),
        )
        if wait:
            self.wait_api()

    def wait_api(self) -> None:
        wait_for(self._healthy, 90, 0.2, "the API to answer /health")

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/api/v1/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def kill_api(self) -> None:
        """SIGKILL the API process: no shutdown handler runs."""
        assert self.api is not None
        os.kill(self.api.pid, signal.SIGKILL)
        self.api.wait(10)

    def start_worker(
        self, epoch_delay: float = 0.25, wait: bool = True, host: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """A worker process like `initlab worker --cpu` starts; with `wait`, until it is live
        (the API must be up). `host`: environment of this worker alone (another host's)."""
        name = f"w{uuid.uuid4().hex[:6]}"
        env = self.env(INITLAB_EPOCH_DELAY=str(epoch_delay), OMP_NUM_THREADS="1")
        env = {**env, **self.worker_env, **(host or {})}
        # The exact command `initlab worker` runs, so tests exercise the production flags.
        settings = Settings(
            queue_name=self.backend.env["INITLAB_QUEUE_NAME"],
            host_name=env.get("INITLAB_HOST_NAME"),
        )
        argv = celery_argv(Slot(name), settings)
        process = self._spawn(name, argv, env)
        self.workers.append(process)
        self.names[process.pid] = name
        if not wait:
            return process

        def live() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"worker {name} exited with {process.returncode}")
            try:
                health = httpx.get(f"{self.url}/api/v1/health", headers=AUTH, timeout=5).json()
            except httpx.HTTPError:
                return False  # the API is still starting
            return any(w["name"].startswith(f"{name}@") for w in health["workers"])

        wait_for(live, 90, 0.2, f"worker {name} to report live")
        return process

    def kill_worker(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL: no shutdown handler runs, as when a machine dies."""
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        self.workers.remove(process)

    def stop_workers(self) -> None:
        """Stop every worker (warm shutdown, SIGKILL after 15 s); the API keeps serving."""
        self._stop(self.workers)
        self.workers.clear()

    def stop(self) -> None:
        self._stop([*self.workers, *([self.api] if self.api else [])])
        self.listener.close()

    @staticmethod
    def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Api:
    """An httpx client of one service, with the token, and waits on experiment state."""

    def __init__(self, url: str, token: str | None = TOKEN) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=f"{url}/api/v1", headers=headers, timeout=30)

    def submit(self, spec: dict[str, Any], **params: Any) -> dict[str, Any]:
        response = self.http.post("/experiments", json=spec, params=params)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def experiment(self, experiment_id: int) -> dict[str, Any]:
        return dict(self.http.get(f"/experiments/{experiment_id}").json())

    def runs(self, experiment_id: int) -> list[dict[str, Any]]:
        return list(self.http.get(f"/experiments/{experiment_id}/runs").json()["items"])

    def metrics(self, experiment_id: int) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        cursor = 0
        while True:
            page = self.http.get(
                f"/experiments/{experiment_id}/metrics", params={"after": cursor, "limit": 50}
            ).json()
            rows += page["items"]
            if not page["items"]:
                return rows
            cursor = page["next_cursor"]

    def wait_status(
        self, experiment_id: int, statuses: tuple[str, ...] = ("done",), timeout: float = 90
    ) -> dict[str, Any]:
        finished = ("done", "failed", "cancelled")

        def reached() -> dict[str, Any] | None:
            experiment = self.experiment(experiment_id)
            if experiment["status"] in finished and experiment["status"] not in statuses:
                runs = [(r["id"], r["status"], r["error"]) for r in self.runs(experiment_id)]
                raise AssertionError(f"experiment ended {experiment['status']}: {runs}")
            return experiment if experiment["status"] in statuses else None

        return dict(wait_for(reached, timeout, 0.2, f"experiment {experiment_id} {statuses}"))


def problem_lines(response: httpx.Response) -> list[str]:
    """A 422's items as "path: msg" lines ("body" left out of the path, "spec" for the body),
    after checking that every item has the {loc, msg, type} shape."""
    lines = []
    for problem in response.json()["detail"]:
        assert set(problem) == {"loc", "msg", "type"}, problem
        assert isinstance(problem["loc"], list) and isinstance(problem["msg"], str), problem
        assert isinstance(problem["type"], str), problem
        loc = problem["loc"][1:] if problem["loc"][:1] == ["body"] else problem["loc"]
        lines.append(f"{'.'.join(str(part) for part in loc) or 'spec'}: {problem['msg']}")
    return lines


def tiny_spec(
    name: str = "tiny", epochs: int = 2, repeats: int = 1, arms: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """small_cnn on 200 digits, batch 32: about a second of CPU per run."""
    return {
        "name": name,
        "model": "small_cnn",
        "dataset": {"name": "digits", "limit_train": 200},
        "training": {"epochs": epochs, "batch_size": 32, "lr": 0.003},
        "arms": arms or [{"name": "original", "method": "original"}],
        "repeats": repeats,
        "seed": 7,
    }
