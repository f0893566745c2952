"""Each page through Streamlit's AppTest, against a live API and worker (see conftest.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from dashboard.client import SESSION_TOKEN
from tests.dashboard.conftest import ROUTER, two_arm_spec
from tests.service.servers import TOKEN, Api, Service, wait_for

pytestmark = pytest.mark.slow


def app_on(page: str | None = None, **query: str) -> AppTest:
    """The app, run once (on `page` if given, else where the query parameters lead)."""
    at = AppTest.from_file(str(ROUTER), default_timeout=60)
    at.session_state[SESSION_TOKEN] = TOKEN  # as if signed in with the API's token
    at.query_params.update(query)
    at.run()
    if page is not None:
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements: Any) -> list[str]:
    return [str(e.value) for e in elements]


def test_an_unreachable_api_is_reported_not_waited_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INITLAB_API_URL", "http://127.0.0.1:9")
    at = app_on()
    assert any("unreachable" in e for e in texts(at.error))
    at = app_on("submit")  # still validates, locally, and says it cannot submit
    assert any("Validated locally only" in w for w in texts(at.warning))
    assert at.button(key="submit").disabled
    at = app_on("live", experiment="1")
    assert any("unreachable" in e for e in texts(at.error))


def test_submit_checks_by_dry_run_then_opens_the_experiment(dashboard_env: Service) -> None:
    at = app_on("submit")
    assert "demo-digits" in at.text_area(key="spec_yaml").value  # starts from the demo
    assert "15 run(s) will be queued" in texts(at.success)
    assert at.dataframe[0].value["Arm"].tolist() == ["original", "smart-init", "warm-start"]

    at.selectbox(key="preset").set_value("table4-cifar10").run()
    at.button(key="load_preset").click().run()
    assert "cifar10" in at.text_area(key="spec_yaml").value
    assert any("CIFAR" in c for c in texts(at.caption))  # the preset's summary

    bad = yaml.safe_dump({**two_arm_spec("bad"), "repeats": 0}, sort_keys=False)
    at.text_area(key="spec_yaml").input(bad).run()
    assert at.button(key="submit").disabled
    assert any("repeats" in m and "line" in m for m in texts(at.markdown))
    assert any(">>" in c and "# <- repeats:" in c for c in texts(at.code))

    at.text_area(key="spec_yaml").input(yaml.safe_dump(two_arm_spec("form", epochs=1,
                                                                    repeats=1))).run()
    assert "2 run(s) will be queued" in texts(at.success)
    assert any("can never decide" in w and "repeats >= 4" in w for w in texts(at.warning))
    at.button(key="submit").click().run()
    assert not at.exception
    eid = at.query_params["experiment"]
    assert [t.value for t in at.title] == [f"#{eid} form"]


def test_experiment_page_shows_curves_tables_runs_and_exports(
    dashboard_env: Service, finished: dict[str, Any]
) -> None:
    at = app_on(experiment="999999")
    assert any("experiment 999999 not found" in e for e in texts(at.error))
    at = app_on(experiment=str(finished["id"]))  # the bookmark /?experiment=ID
    assert [t.value for t in at.title] == [f"#{finished['id']} finished"]
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    bands = [t for t in spec["data"] if t.get("fill") == "toself"]
    centres = [t for t in spec["data"] if t.get("mode") == "lines+markers"]
    assert [t["name"] for t in centres] == ["original", "smart"]
    assert len(bands) == 2 and centres[0]["line"]["color"] != centres[1]["line"]["color"]
    assert all(c[0] == 3 for c in centres[0]["customdata"])  # n on hover: three repeats
    # Only the open tab is drawn: no table, runs or downloads behind the Curves tab.
    assert not at.table and not at.dataframe and not at.get("download_button")

    curves = at
    at = app_on(experiment=str(finished["id"]), tab="Tables")  # the tab is in the URL
    tables = at.table
    assert len(tables) >= 1 + 3 + 1 + 1  # primary, val/test/train, paired, preprocessing
    # The primary comparison leads, with its effect size, sequence and decision.
    assert texts(at.subheader)[0] == "Primary comparison: val loss under rule val_loss"
    primary = tables[0].value
    assert list(primary.index) == ["smart"] and {"d_z", "Holm p", "Decision"} <= set(primary)
    assert list(tables[1].value.index) == ["original", "smart"]
    assert any("Paired comparison with original" in s for s in texts(at.subheader))
    assert not at.warning
    at.radio(key="rule").set_value("paper").run()
    assert any("optimistic" in w for w in texts(at.warning))
    at.radio(key="rule").set_value("epoch").run()
    assert any("Rule epoch 3" in m for m in texts(at.markdown))

    assert not at.get("plotly_chart")

    runs = app_on(experiment=str(finished["id"]), tab="Runs").dataframe[0].value
    assert set(runs["Status"]) == {"done"} and set(runs["Attempt"]) == {1}
    exports = app_on(experiment=str(finished["id"]), tab="Exports")
    labels = [b.proto.label for b in exports.get("download_button")]
    assert labels == ["Tables .csv", "Tables .md", "Tables .tex", "Figure .png", "Figure .svg"]

    at = curves
    charts = plotly_specs(at)  # the grid: loss, accuracy × train, val, test; then lr
    assert [c["layout"]["title"]["text"] for c in charts] == [
        f"{s} {m}" for m in ("loss", "accuracy") for s in ("training", "validation", "test")
    ] + ["learning rate"]
    assert all(c["layout"]["hovermode"] == "x unified" for c in charts)
    assert runs["Init"].tolist() == ["pytorch"] * 6 and runs["Selected epoch"].notna().all()

    at.selectbox(key="curve_x").set_value("examples_total").run()
    at.selectbox(key="curve_phase").set_value("all").run()
    at.slider(key="curve_ema").set_value(0.5).run()
    assert (at.query_params["x"], at.query_params["phase"], at.query_params["ema"]) == (
        "examples_total", "all", "0.5")  # the view is in the URL
    chart = plotly_specs(at)[1]
    assert chart["layout"]["xaxis"]["title"]["text"] == "examples trained on (all phases)"
    assert "EMA 0.5" in chart["layout"]["title"]["text"]
    smart = next(t for t in chart["data"] if t.get("name") == "smart")
    original = next(t for t in chart["data"] if t.get("name") == "original")
    assert min(smart["x"]) < min(original["x"])  # smart's stages train on fewer examples first

    again = app_on(experiment=str(finished["id"]), x="examples_total", phase="all", ema="0.5")
    assert again.selectbox(key="curve_x").value == "examples_total"  # a copied link reproduces
    assert plotly_specs(again)[1]["layout"]["title"]["text"] == chart["layout"]["title"]["text"]

    at.selectbox(key="curve_x").set_value("epoch").run()
    at.segmented_control(key="curve_layout").set_value("single").run()
    at.selectbox(key="curve_phase").set_value("stage-1").run()
    at.selectbox(key="curve_split").set_value("sample").run()
    at.toggle(key="curve_runs").set_value(True).run()
    at.toggle(key="curve_log").set_value(True).run()
    spec = plotly_specs(at)[0]
    assert spec["layout"]["yaxis"]["type"] == "log"
    assert [t["name"] for t in spec["data"] if t.get("mode") == "lines+markers"] == ["original",
                                                                                     "smart"]
    runs_drawn = [t["name"] for t in spec["data"] if t.get("opacity") == 0.35]
    assert runs_drawn == [f"smart, repeat {r}" for r in range(3)]  # smart's three runs


def test_a_cuda_experiment_with_only_a_cpu_worker_says_what_it_waits_for(
    dashboard_env: Service, api: Api
) -> None:
    spec = two_arm_spec("needs-gpu", repeats=1)
    queued = api.submit({**spec, "execution": {**spec.get("execution", {}), "device": "cuda"}})
    try:
        at = app_on(experiment=str(queued["id"]))
        progress = at.get("progress")[0].proto.text
        assert "2 queued · waiting for a cuda worker" in progress, progress
        frame = app_on().dataframe[0].value  # the list says it in its Now column
        assert frame[frame["ID"] == queued["id"]]["Now"].tolist() == ["waiting for a cuda worker"]
    finally:
        api.http.post(f"/experiments/{queued['id']}/cancel").raise_for_status()


def test_experiments_page_filters_cancels_and_retries(dashboard_env: Service, api: Api) -> None:
    long = api.submit(two_arm_spec("long", epochs=400, repeats=1))
    eid = long["id"]
    try:
        at = app_on()
        frame = at.dataframe[0].value
        assert eid in frame["ID"].tolist()
        columns = ["ID", "Name", "Tags", "Status", "Progress", "Runs done"]
        assert frame.columns.tolist()[:6] == columns
        at.segmented_control(key="status_filter").set_value("done").run()
        done = at.dataframe[0].value["ID"].tolist() if at.dataframe else []  # none done yet
        assert eid not in done
        at.segmented_control(key="status_filter").set_value("all").run()

        at.selectbox(key="chosen").set_value(eid).run()
        at.button(key="cancel").click().run()
        assert f"Experiment {eid}: 2 run(s) cancelled" in texts(at.success)
        assert api.experiment(eid)["status"] == "cancelled"

        at.selectbox(key="chosen").set_value(eid).run()
        assert at.button(key="retry").label == "Retry (2)"
        at.button(key="retry").click().run()
        assert f"Experiment {eid}: 2 run(s) queued again" in texts(at.success)
        assert {r["attempt"] for r in api.runs(eid)} == {2}
    finally:
        api.http.post(f"/experiments/{eid}/cancel")  # free the worker for the other tests


def _curve_points(at: AppTest) -> int:
    """The live panel's points, from its footer ('N curve points from the API in …')."""
    footer = next(c for c in texts(at.caption) if "curve points from the API" in c)
    return int(footer.split()[0])


def test_live_panel_draws_the_apis_curves_without_holding_metric_rows(
    dashboard_env: Service, api: Api
) -> None:
    # Long enough to be still running while the panel is watched; cancelled once it has grown.
    eid = api.submit(two_arm_spec("live", epochs=400, repeats=2))["id"]
    at = app_on("live", experiment=str(eid))
    assert any("Refreshing every 2s" in c for c in texts(at.caption))
    seen = [_curve_points(at)]

    def grown() -> bool:
        at.run()
        seen.append(_curve_points(at))
        return seen[-1] > seen[0]

    wait_for(grown, 60, 0.5, "new curve points in the live panel")
    assert api.http.post(f"/experiments/{eid}/cancel").status_code == 200
    api.wait_status(eid, ("cancelled",), timeout=90)
    at.run()
    at.run()
    assert any("Finished: not refreshing." in c for c in texts(at.caption))
    curves = api.http.get(f"/experiments/{eid}/curves", params={
        "split": "val", "metric": "loss", "phase": "main", "band": "iqr"}).json()
    # The two arms' medians at each main epoch the API has: the panel draws them all.
    assert _curve_points(at) == sum(len(points) for points in curves["arms"].values())
    assert not any(key.startswith("metrics-") for key in at.session_state)
    assert at.get("plotly_chart")


def plotly_specs(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def test_a_sweep_is_submitted_then_compared_point_by_point(dashboard_env: Service,
                                                           api: Api) -> None:
    spec = {**two_arm_spec("lr-sweep", epochs=2, repeats=2),
            "sweep": {"training.lr": [0.01, 0.001]}}
    spec["dataset"]["limit_train"] = 150
    at = app_on("submit")
    at.text_area(key="spec_yaml").input(yaml.safe_dump(spec, sort_keys=False)).run()
    assert any("8 run(s) will be queued in 2 experiment(s) (a sweep" in s
               for s in texts(at.success))
    at.button(key="submit").click().run()  # POST /sweeps, then the sweep's page
    assert not at.exception, [e.value for e in at.exception]
    sweep_id = at.query_params["sweep"]
    assert [t.value for t in at.title] == ["Sweep: lr-sweep"]
    experiments = api.http.get(f"/sweeps/{sweep_id}").json()["experiments"]
    for experiment in experiments:
        api.wait_status(experiment["id"], timeout=120)

    at = app_on(sweep=sweep_id)  # the bookmark /?sweep=ID
    table = at.dataframe[0].value
    assert table["training.lr"].tolist() == ["0.001", "0.01"]  # left to right along the axis
    assert set(table["Status"]) == {"done"} and set(table["Runs done"]) == {"4/4"}
    metric, paired = plotly_specs(at)
    centres = [t for t in metric["data"] if t.get("mode") == "lines+markers"]
    assert [t["name"] for t in centres] == ["original", "smart"]
    assert all(t["x"] == [0.001, 0.01] for t in centres)
    assert all(c[1] == 2 for t in centres for c in t["customdata"])  # n: two repeats
    assert len([t for t in metric["data"] if t.get("fill") == "toself"]) == 2  # one band per arm
    assert metric["layout"]["xaxis"]["type"] == "log"
    points = at.dataframe[1].value
    assert sorted(zip(points["training.lr"], points["Arm"], strict=True)) == [
        ("0.001", "original"), ("0.001", "smart"), ("0.01", "original"), ("0.01", "smart")]
    assert [t["name"] for t in paired["data"]] == ["smart − original"]
    assert paired["data"][0]["x"] == [0.001, 0.01]
    differences = at.dataframe[2].value
    assert differences["training.lr"].tolist() == ["0.001", "0.01"]
    assert set(differences["n"]) == {2}

    at.selectbox(key="sweep_metric").set_value("accuracy").run()
    at.selectbox(key="sweep_rule").set_value("paper").run()
    at.selectbox(key="sweep_band").set_value("minmax").run()
    assert any("optimistic" in w for w in texts(at.warning))
    metric, paired = plotly_specs(at)
    assert metric["layout"]["yaxis"]["title"]["text"] == "accuracy (%)"
    assert "min–max" in metric["layout"]["title"]["text"]

    at = app_on(experiment=str(experiments[0]["id"]))  # each point links back to the sweep
    links = [link.proto for link in at.get("page_link")]
    assert any(link.query_string == f"sweep={sweep_id}" for link in links), links
    at = app_on("sweep")  # no id in the URL: pick one of the recent sweeps
    assert any(sweep_id[:8] in label for label in at.selectbox(key="sweep_pick").options)
