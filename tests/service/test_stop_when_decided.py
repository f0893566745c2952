"""stop_when_decided end to end: a real worker finishes pairs until the primary comparison's
confidence sequence has decided, then the queued runs are cancelled as 'decided'."""

from __future__ import annotations

import pytest

from tests.service.servers import Api, Service, tiny_spec

# Four full-data epochs of pre-training before the one main epoch: clearly better val loss.
ARMS = [
    {"name": "original", "method": "original"},
    {"name": "pretrained", "method": "warm_start", "stages": [{"fraction": 1.0, "epochs": 4}]},
]


# One backend is enough for the decision path; the store code is shared.
@pytest.mark.parametrize("service", ["sqlite"], indirect=True)
def test_a_decided_experiment_cancels_its_queued_runs_and_says_what_it_saved(
    service: Service,
) -> None:
    api = Api(service.url)
    spec = tiny_spec("decide", epochs=1, repeats=12, arms=ARMS)
    spec |= {"stop_when_decided": True, "min_repeats": 5}
    created = api.submit(spec)
    # Decided is done (issue 23), not "cancelled": the question is answered.
    experiment = api.wait_status(created["id"], ("done",), timeout=300)
    runs = api.runs(created["id"])
    cancelled = [r for r in runs if r["status"] == "cancelled"]
    done = [r for r in runs if r["status"] == "done"]
    assert cancelled and len(cancelled) + len(done) == 24
    assert all(r["error"].startswith("decided: ") and r["started"] is None for r in cancelled)
    assert "pretrained better than original" in cancelled[0]["error"]
    pairs = {r["repeat"] for r in done if r["arm"] == "original"} & {
        r["repeat"] for r in done if r["arm"] == "pretrained"
    }
    assert len(pairs) >= 5  # never before min_repeats completed pairs

    saved = experiment["stopped_early"]
    assert saved["runs_saved"] == len(cancelled)
    assert saved["reason"] == cancelled[0]["error"]
    assert saved["hours_saved_estimate"] == pytest.approx(len(cancelled) * saved["mean_run_hours"])
    assert 0 < saved["mean_run_hours"] < 0.1

    sequence = api.http.get(f"/experiments/{created['id']}/summary").json()["sequential"]
    assert [(s["arm"], s["decided"], s["stop"]) for s in sequence] == [
        ("pretrained", "better", True)
    ]
    assert sequence[0]["n"] == len(pairs) and sequence[0]["cs_high"] < 0


@pytest.mark.parametrize("service", ["sqlite"], indirect=True)
def test_without_stop_when_decided_every_run_finishes_and_curves_take_x(
    service: Service,
) -> None:
    api = Api(service.url)
    spec = tiny_spec("no-stop", epochs=2, repeats=6, arms=ARMS) | {"min_repeats": 5}
    created = api.submit(spec)
    experiment = api.wait_status(created["id"], ("done",), timeout=300)
    assert experiment["stopped_early"] is None and experiment["progress"]["runs_done"] == 12
    url = f"/experiments/{created['id']}/curves"
    curves = api.http.get(url, params={"x": "examples_total", "phase": "all"}).json()
    assert curves["x"] == "examples_total"
    warm, original = curves["arms"]["pretrained"], curves["arms"]["original"]
    # 200 digits less the validation share; 4 stage epochs (and epoch 0) then 2 main epochs.
    n_train = original[0]["x"]
    assert [p["x"] for p in original] == [n_train, 2 * n_train]
    assert [p["x"] for p in warm] == [0.0, *(k * n_train for k in range(1, 7))]
    assert all(p["n"] == 6 for p in warm + original)
    seconds = api.http.get(url, params={"x": "seconds_total"}).json()["arms"]["original"]
    assert seconds and all(p["low"] <= p["median"] <= p["high"] for p in seconds)
    bad = api.http.get(url, params={"phase": "all"})
    assert bad.status_code == 422 and "phase 'all' needs x" in bad.text
    bad = api.http.get(url, params={"x": "steps"})
    assert bad.status_code == 422 and "examples_total" in bad.text
