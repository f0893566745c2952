"""Two hosts, one result: workers of two "hosts" (their own host names, state folders and
scratch files, nothing local shared) on one PostgreSQL, one Redis and a real S3 endpoint
(moto's server). Host A is SIGKILLed mid-epoch; host B must resume from the checkpoint A
committed to the object store, or hand the run back when it cannot read it, never start it
over from its first epoch.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from runqueue.inspect import pending_task_ids
from store.config import Settings
from store.db import get_database
from store.models import Metric, Run
from tests.reliability.helpers import FaultFile, assert_nothing_lost, fault_spec
from tests.service.backends import postgres_backend
from tests.service.s3_server import S3Server, s3_server, unique_prefix
from tests.service.servers import Api, Service, wait_for

pytestmark = pytest.mark.slow  # live servers, workers and an S3 endpoint
KILL_AT = 12  # the 12th training batch: main epoch 1, after the stage's epochs committed


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One store, broker and API for the module: each test has hosts (workers) of its own."""
    root = tmp_path_factory.mktemp("hosts")
    with postgres_backend(root, "hosts") as backend:
        service = Service(backend, root)
        service.start_api()
        try:
            yield service
        finally:
            service.stop()


@pytest.fixture
def service(shared: Service) -> Iterator[Service]:
    yield shared
    shared.stop_workers()


def host(root: Path, name: str, **extra: str) -> dict[str, str]:
    """The environment of one host: its name and folders of its own."""
    base = root / name
    base.mkdir(exist_ok=True)
    return {
        "INITLAB_HOST_NAME": name,
        "INITLAB_ARTIFACT_DIR": str(base / "artifacts"),
        "INITLAB_SCRATCH_DIR": str(base / "scratch"),
        "INITLAB_FAULT_FILE": str(base / "fault.json"),
        **extra,
    }


def _run(service: Service, run_id: int) -> Run:
    with get_database(service.backend.env["INITLAB_DATABASE_URL"]).session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        return run


def _fences(service: Service, run_id: int) -> set[int | None]:
    with get_database(service.backend.env["INITLAB_DATABASE_URL"]).session() as session:
        return set(session.scalars(select(Metric.fence).where(Metric.run_id == run_id)))


def kill_host_a(service: Service, env: dict[str, str], spec: dict[str, Any]) -> tuple[int, Run]:
    """Start host A, submit `spec`, SIGKILL A mid-epoch; the run id and its row then."""
    a = service.start_worker(0.1, host=env)
    FaultFile(Path(env["INITLAB_FAULT_FILE"])).set("batch", KILL_AT)
    created = Api(service.url).submit(spec)
    a.wait(120)
    service.workers.remove(a)
    run_id = Api(service.url).runs(created["id"])[0]["id"]
    run = _run(service, run_id)
    assert run.last_epoch is not None and run.checkpoint == f"{run_id}.1.pt", "A committed"
    return run_id, run


def logs(service: Service, process: subprocess.Popen[bytes]) -> str:
    name = service.names[process.pid]
    return (service.logs / f"{service.backend.name}-{name}.log").read_text(errors="replace")


def test_host_b_resumes_from_the_object_store_where_a_was_killed(
    service: Service, s3: S3Server, tmp_path: Path
) -> None:
    prefix, spec = unique_prefix("resume"), fault_spec("hosts-resume")
    run_id, at_kill = kill_host_a(service, host(tmp_path, "host-a", **s3.env(prefix)), spec)
    assert s3.keys(prefix) == [f"{run_id}.1.pt"]  # in the store, not on A's disk only
    b = service.start_worker(0.1, host=host(tmp_path, "host-b", **s3.env(prefix)))
    experiment_id = at_kill.experiment_id
    Api(service.url).wait_status(experiment_id, timeout=120)
    run = _run(service, run_id)
    assert run.host == "host-b" and run.worker is not None and "@host-b-" in run.worker
    assert f"resuming from s3://initlab-checkpoints/{prefix}/{run_id}.1.pt" in logs(service, b)
    assert _fences(service, run_id) == {run.fence}, "every row carries B's fence"
    assert_nothing_lost(Api(service.url), experiment_id, spec)
    assert s3.keys(prefix) == [f"{run_id}.{run.fence}.pt"], "A's checkpoint dropped after"


def test_store_down_hands_the_run_back_and_it_resumes_once_the_store_is_back(
    service: Service, s3: S3Server, tmp_path: Path
) -> None:
    prefix, spec = unique_prefix("down"), fault_spec("hosts-store-down")
    run_id, at_kill = kill_host_a(service, host(tmp_path, "host-a", **s3.env(prefix)), spec)
    s3.stop()
    try:
        env = host(tmp_path, "host-b", INITLAB_HANDBACK_LIMIT="1000", **s3.env(prefix))
        service.start_worker(0.1, host=env)
        handed = wait_for(
            lambda: _run(service, run_id).handbacks >= 2 and _run(service, run_id),
            120, 0.2, "B to hand the run back",
        )
        note = Api(service.url).http.get(f"/runs/{run_id}").json()["note"]
        assert note.startswith(f"checkpoint not readable here: {run_id}.1.pt: "), note
        assert "handed back" in note
        # Nothing started over: the committed epoch and rows stand, all from A.
        assert (handed.last_phase, handed.last_epoch) == (at_kill.last_phase, at_kill.last_epoch)
        assert _fences(service, run_id) == {1}
    finally:
        s3.start()
    Api(service.url).wait_status(at_kill.experiment_id, timeout=120)
    run = _run(service, run_id)
    assert _fences(service, run_id) == {run.fence} and run.handbacks == 0
    assert_nothing_lost(Api(service.url), at_kill.experiment_id, spec)


def test_store_down_past_the_limit_fails_with_the_cause(
    service: Service, s3: S3Server, tmp_path: Path
) -> None:
    prefix = unique_prefix("limit")
    run_id, at_kill = kill_host_a(
        service, host(tmp_path, "host-a", **s3.env(prefix)), fault_spec("hosts-limit")
    )
    s3.stop()
    try:
        env = host(tmp_path, "host-b", INITLAB_HANDBACK_LIMIT="2", **s3.env(prefix))
        service.start_worker(0.1, host=env)
        Api(service.url).wait_status(at_kill.experiment_id, ("failed",), timeout=120)
    finally:
        s3.start()
    run = _run(service, run_id)
    assert run.error is not None
    assert run.error.startswith(f"checkpoint not readable here: {run_id}.1.pt: "), run.error
    assert "Could not connect" in run.error and "handed back 2 times" in run.error
    assert _fences(service, run_id) == {1}, "no row of a fresh start"


def test_separate_local_folders_never_restart_silently(service: Service, tmp_path: Path) -> None:
    spec = fault_spec("hosts-local")
    run_id, at_kill = kill_host_a(service, host(tmp_path, "host-a"), spec)
    b = service.start_worker(0.1, host=host(tmp_path, "host-b", INITLAB_HANDBACK_LIMIT="3"))
    Api(service.url).wait_status(at_kill.experiment_id, ("failed",), timeout=120)
    run = _run(service, run_id)
    assert run.error == (
        f"checkpoint not readable here: {run_id}.1.pt: no such file or object "
        "(handed back 3 times, INITLAB_HANDBACK_LIMIT=3)"
    )
    assert (run.last_phase, run.last_epoch) == (at_kill.last_phase, at_kill.last_epoch)
    assert _fences(service, run_id) == {1}, "no row of a fresh start"
    assert "handed back" in logs(service, b)


def test_a_cuda_experiment_with_only_cpu_workers_stays_queued_and_says_why(
    service: Service, tmp_path: Path
) -> None:
    service.start_worker(0.1, host=host(tmp_path, "cpu-host"))
    api = Api(service.url)
    cuda = api.submit(fault_spec("cuda-only") | {"execution": {"device": "cuda"}})
    (run,) = api.runs(cuda["id"])
    published = _run(service, run["id"]).task_id  # read before the grace (3 s) is over
    other = api.submit(fault_spec("any-device", epochs=1))
    # The CPU worker takes the `any` run; meanwhile recovery's lost-message check (every
    # INITLAB_QUEUE_GRACE / 2 = 1.5 s here) compares the queued cuda run with every queue.
    api.wait_status(other["id"], timeout=120)
    stored = _run(service, run["id"])
    assert (stored.status, stored.fence) == ("queued", 0), "no CPU worker took it"
    settings = Settings(**{k[8:].lower(): v for k, v in service.backend.env.items()})
    pending = pending_task_ids(settings)
    assert pending is not None and stored.task_id in pending, "its message waits in .cuda"
    assert stored.task_id == published, "never republished as lost: recovery reads .cuda"
    experiment = api.experiment(cuda["id"])
    assert (experiment["device"], experiment["waiting"]) == ("cuda", "waiting for a cuda worker")
    assert api.experiment(other["id"])["waiting"] is None
    shown = subprocess.run(
        [sys.executable, "-m", "initlab.cli", "status", str(cuda["id"]), "--api", service.url],
        env=service.env(), capture_output=True, text=True, timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0].endswith(", waiting for a cuda worker"), shown.stdout
    assert api.http.post(f"/experiments/{cuda['id']}/cancel").status_code == 200


def test_one_heartbeat_loop_beats_every_run_of_a_worker(tmp_path: Path) -> None:
    """A group of R runs holds one heartbeat thread, not R; it ends with the last run."""
    import threading
    from types import SimpleNamespace

    from worker.ownership import BEATS, Ownership

    class Counted(Ownership):
        beats = 0

        def beat(self) -> None:
            Counted.beats += 1

    settings = Settings(heartbeat_interval=0.01)
    job = SimpleNamespace(last=None)
    owners = [Counted(None, settings, job, threading.Event()) for _ in range(4)]  # type: ignore[arg-type]
    for owner in owners:
        owner.__enter__()
    wait_for(lambda: Counted.beats >= 40, 30, 0.01, "the loop to beat every owner")
    assert [t.name for t in threading.enumerate()].count("heartbeat") == 1
    for owner in owners:
        owner.__exit__()
    wait_for(lambda: BEATS.thread is None, 30, 0.01, "the loop to end with its last owner")


def write_arrays(path: Path, seed: int) -> None:
    """A small `.npz` data set (8×8 grey, 10 classes) whose content depends on `seed`."""
    import numpy as np

    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        x_train=rng.integers(0, 256, (200, 8, 8), dtype=np.uint8),
        y_train=np.arange(200) % 10,
        x_test=rng.integers(0, 256, (50, 8, 8), dtype=np.uint8),
        y_test=np.arange(50) % 10,
    )


def npz_spec(name: str) -> dict[str, Any]:
    return fault_spec(name) | {"dataset": {"name": "npz", "root": "arrays.npz"}}


def test_a_resume_on_other_data_fails_naming_both_digests(
    service: Service, s3: S3Server, tmp_path: Path
) -> None:
    data_root = Path(service.backend.env["INITLAB_DATA_ROOT"])
    write_arrays(data_root / "arrays.npz", seed=1)  # host A's (and the API's) copy
    write_arrays(tmp_path / "b-data" / "arrays.npz", seed=2)  # host B's differs
    prefix = unique_prefix("digest")
    run_id, at_kill = kill_host_a(
        service, host(tmp_path, "host-a", **s3.env(prefix)), npz_spec("hosts-digest")
    )
    stored = at_kill.data_digest
    assert stored is not None and len(stored) == 64, "A recorded the digest of what it read"
    env = host(tmp_path, "host-b", INITLAB_DATA_ROOT=str(tmp_path / "b-data"), **s3.env(prefix))
    service.start_worker(0.1, host=env)
    Api(service.url).wait_status(at_kill.experiment_id, ("failed",), timeout=120)
    run = _run(service, run_id)
    assert run.error is not None
    found = re.search(r"read sha256 ([0-9a-f]{64}), this host .* read sha256 ([0-9a-f]{64})",
                      run.error)
    assert found is not None, run.error
    assert found.group(1) == stored and found.group(2) != stored
    assert run.data_digest == stored and _fences(service, run_id) == {1}


def test_a_host_without_the_data_hands_back_then_fails_naming_the_path(
    service: Service, tmp_path: Path
) -> None:
    write_arrays(Path(service.backend.env["INITLAB_DATA_ROOT"]) / "arrays.npz", seed=1)
    empty = tmp_path / "no-data"
    empty.mkdir()
    env = host(tmp_path, "host-b", INITLAB_DATA_ROOT=str(empty), INITLAB_HANDBACK_LIMIT="2")
    service.start_worker(0.1, host=env)
    created = Api(service.url).submit(npz_spec("hosts-no-data"))
    Api(service.url).wait_status(created["id"], ("failed",), timeout=120)
    (run,) = Api(service.url).runs(created["id"])
    assert run["error"] == (
        f"data not on this host: {empty / 'arrays.npz'} (handed back 2 times, "
        "INITLAB_HANDBACK_LIMIT=2)"
    )
    assert run["last_epoch"] is None and run["checkpoint"] is None


def test_two_workers_with_one_hostname_get_distinct_node_names(
    service: Service, tmp_path: Path
) -> None:
    for _ in range(2):
        service.start_worker(0.1, host=host(tmp_path, "clone"))
    health = Api(service.url).http.get("/health").json()
    # Earlier tests' hosts may still be listed until their heartbeats expire.
    names = [w["name"] for w in health["workers"] if w["host"] == "clone"]
    assert len(names) == 2 and len(set(names)) == 2, names
    assert all(re.fullmatch(r"w[0-9a-f]{6}@clone-[0-9a-f]{6}", n) for n in names), names
