"""SIGKILL a worker at random points of a run: the run resumes elsewhere and loses nothing.

Each fault fires inside the worker (worker/faults.py) at a visit drawn at random (the seed is in
the pytest header): mid-epoch at a batch boundary, at the start of an evaluation pass, and in the
window after an epoch's checkpoint is on disk but before its metric rows are committed. The
other worker takes the run over once recovery finds its heartbeat stale, resumes it from its
last checkpoint, and the stored metrics must equal an uninterrupted run's exactly, one row per
(phase, epoch, split). Lost: nothing.
"""

from __future__ import annotations

import pytest

from tests.reliability.conftest import EPOCH_DELAY
from tests.reliability.helpers import (
    RNG,
    SEED,
    FaultFile,
    assert_nothing_lost,
    fault_spec,
    top_up_workers,
    wait_dead_worker,
)
from tests.service.servers import Api, Service

# Visits drawn from (see fault_spec for the counts), leaving work after the kill.
POINTS = {
    "batch": (1, 28),  # 8 stage + 21 main batches
    "evaluate": (1, 12),  # 7 stage + 6 main evaluation passes
    "before_record": (1, 5),  # 6 epochs: 3 of the stage, 3 main
}

pytestmark = pytest.mark.slow  # live servers and workers


@pytest.mark.parametrize("point", POINTS)
def test_sigkill_at_a_random_point_loses_nothing(
    pg_service: Service, pg_faults: FaultFile, point: str
) -> None:
    at = RNG.randint(*POINTS[point])
    print(f"SIGKILL at visit {at} of {point!r} (INITLAB_FAULT_SEED={SEED})")
    spec = fault_spec(f"kill-{point}-{at}")
    api = Api(pg_service.url)
    pg_faults.set(point, at)
    created = api.submit(spec)
    wait_dead_worker(pg_service)
    assert not pg_faults.path.exists(), "the fault fired once"
    top_up_workers(pg_service, 2, EPOCH_DELAY)  # a replacement boots; the survivor resumes
    api.wait_status(created["id"], timeout=90)
    (run,) = api.runs(created["id"])
    assert run["requeues"] >= 1, "recovery re-queued the dead worker's run"
    assert_nothing_lost(api, created["id"], spec)


def test_sigkill_between_sparse_checkpoints_loses_nothing(
    pg_service: Service, pg_faults: FaultFile
) -> None:
    # An hour between checkpoints: only each phase's last epoch writes one, and the rows of the
    # epochs between wait to commit with it (issue 25, execution.checkpoint_every).
    spec = fault_spec("kill-sparse") | {"execution": {"checkpoint_every": 3600}}
    api = Api(pg_service.url)
    pg_faults.set("batch", 8 + 2 * 7 + 1)  # main epoch 3's first batch
    created = api.submit(spec)
    wait_dead_worker(pg_service)
    (run,) = api.runs(created["id"])
    # Main epochs 1 and 2 were trained but no checkpoint holds them: nothing of theirs committed.
    assert (run["last_phase"], run["last_epoch"]) == ("stage-1", 2)
    top_up_workers(pg_service, 2, EPOCH_DELAY)
    api.wait_status(created["id"], timeout=90)
    assert_nothing_lost(api, created["id"], spec)
