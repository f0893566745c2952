"""The REST API over HTTP against a live server: auth, validation, limits, errors."""

from __future__ import annotations

import httpx
import yaml

from tests.service.servers import AUTH, Api, Service, problem_lines, tiny_spec


def test_health_says_only_ok_without_a_token_and_lists_workers_with_it(service: Service) -> None:
    response = httpx.get(f"{service.url}/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}, "no hosts, pids or versions without the token"
    response = httpx.get(f"{service.url}/api/v1/health", headers=AUTH)
    body = response.json()
    assert body["status"] == "ok" and body["database"]["ok"] and body["broker"]["ok"]
    assert body["workers"], "the fixture's worker reports live"


def test_every_other_endpoint_needs_the_token(service: Service) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
        for method, path in [
            ("GET", "/experiments"),
            ("POST", "/experiments"),
            ("GET", "/experiments/1/curves"),
            ("POST", "/runs/1/retry"),
        ]:
            response = httpx.request(
                method, f"{service.url}/api/v1{path}", headers=headers, json=tiny_spec()
            )
            assert response.status_code == 401, (method, path, headers)
            assert response.headers["www-authenticate"] == "Bearer"
    assert Api(service.url).http.get("/experiments").status_code == 200


def test_invalid_spec_is_422_with_a_line_per_field(service: Service) -> None:
    spec = {**tiny_spec(), "model": "resnet", "repeats": 0}
    spec["training"] = {"lr": -1}
    response = Api(service.url).http.post("/experiments", json=spec)
    assert response.status_code == 422
    detail = problem_lines(response)
    for field in ("model:", "repeats:", "training.lr:"):
        assert any(line.startswith(field) for line in detail), detail
    broken = Api(service.url).http.post(
        "/experiments", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 422 and broken.json()["detail"][0]["loc"] == ["body"]
    assert problem_lines(broken)[0].startswith("spec: not valid JSON")


def test_path_escaping_the_data_root_is_422(service: Service) -> None:
    spec = tiny_spec()
    spec["dataset"] = {"name": "cifar10", "root": "../../etc"}
    response = Api(service.url).http.post("/experiments", json=spec)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "dataset", "root"]
    assert "escapes the data root" in problem_lines(response)[0]


def test_a_data_folder_missing_under_the_data_root_is_422_at_submit(service: Service) -> None:
    api = Api(service.url)
    spec = tiny_spec("missing-data")
    spec["dataset"] = {"name": "cifar10", "root": "no-such-folder"}
    before = api.http.get("/experiments").json()["total"]
    for params in ({"dry_run": True}, {}):
        response = api.http.post("/experiments", json=spec, params=params)
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == ["body", "dataset", "root"]
        assert "'no-such-folder' does not exist under the server's data root" in (
            problem_lines(response)[0])
    assert api.http.get("/experiments").json()["total"] == before, "nothing was queued"


def test_dry_run_lists_runs_and_stores_nothing(service: Service) -> None:
    api = Api(service.url)
    before = api.http.get("/experiments").json()["total"]
    spec = tiny_spec(
        repeats=2,
        arms=[
            {"name": "a", "method": "original"},
            {"name": "b", "method": "warm_start", "stages": [{"fraction": 0.5, "epochs": 1}]},
        ],
    )
    response = api.http.post("/experiments", json=spec, params={"dry_run": True})
    assert response.status_code == 200
    body = response.json()
    assert body["dry_run"] and body["id"] is None
    assert [(r["arm"], r["repeat"]) for r in body["runs"]] == [
        ("a", 0),
        ("b", 0),
        ("a", 1),
        ("b", 1),
    ]
    # Two repeats can never decide the primary (t-mixture, alpha 0.05): said at submit.
    (warning,) = body["warnings"]
    assert "can never decide" in warning and "repeats >= 4 could" in warning
    assert api.http.get("/experiments").json()["total"] == before


def test_yaml_body_sweep_and_unsupported_type(service: Service) -> None:
    api = Api(service.url)
    spec = {**tiny_spec(name="sweep"), "sweep": {"training.lr": [0.01, 0.001]}}
    response = api.http.post(
        "/experiments",
        content=yaml.safe_dump(spec).encode(),
        headers={"Content-Type": "application/yaml"},
        params={"dry_run": True},
    )
    assert response.status_code == 200, response.text
    experiments = response.json()["experiments"]
    assert [e["name"] for e in experiments] == [
        'sweep {"training.lr":0.01}',
        'sweep {"training.lr":0.001}',
    ]
    assert [e["swept"] for e in experiments] == [{"training.lr": 0.01}, {"training.lr": 0.001}]
    other = api.http.post("/experiments", content=b"x", headers={"Content-Type": "image/png"})
    assert other.status_code == 415 and "application/yaml" in other.json()["detail"]


def test_body_over_the_limit_is_413(service: Service) -> None:
    response = Api(service.url).http.post(
        "/experiments", content=b"#" * 2_000_000, headers={"Content-Type": "application/yaml"}
    )
    assert response.status_code == 413
    assert "1000000 bytes" in response.json()["detail"]


def test_clear_404s_and_bad_queries(service: Service) -> None:
    api = Api(service.url)
    for path in ("/experiments/999999", "/experiments/999999/metrics", "/runs/999999"):
        response = api.http.get(path)
        assert response.status_code == 404 and "999999 not found" in response.json()["detail"]
    assert api.http.post("/runs/999999/retry").status_code == 404
    bad = api.http.get("/experiments", params={"status": "sleeping", "limit": 0})
    assert bad.status_code == 422
    assert any(line.startswith("query.status:") for line in problem_lines(bad))


def test_openapi_lists_every_route(service: Service) -> None:
    paths = httpx.get(f"{service.url}/openapi.json").json()["paths"]
    for path in (
        "/api/v1/experiments",
        "/api/v1/experiments/{experiment_id}/curves",
        "/api/v1/experiments/{experiment_id}/summary",
        "/api/v1/runs/{run_id}/retry",
        "/api/v1/experiments/{experiment_id}/cancel",
        "/api/v1/health",
    ):
        assert path in paths


def test_cors_admits_only_the_dashboard_origin(service: Service) -> None:
    def preflight(origin: str) -> httpx.Response:
        return httpx.options(
            f"{service.url}/api/v1/experiments",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )

    allowed = preflight("http://localhost:8501")
    assert allowed.headers.get("access-control-allow-origin") == "http://localhost:8501"
    assert "access-control-allow-origin" not in preflight("http://evil.example").headers


def test_model_names_beyond_the_registry_are_checked(service: Service) -> None:
    http = Api(service.url).http
    spec = tiny_spec()
    spec["model"] = "import:os:system"
    response = http.post("/experiments", json=spec)
    assert response.status_code == 422
    assert "INITLAB_ALLOWED_MODEL_MODULES" in problem_lines(response)[0]
    assert "'os'" in problem_lines(response)[0]
    spec["model"] = "torchvision:resnet1"
    response = http.post("/experiments", json=spec)
    assert response.status_code == 422
    assert "torchvision:resnet18" in problem_lines(response)[0]  # the close-name hint
    spec["model"], spec["arms"] = "torchvision:resnet18", [
        {"name": "lsuv", "method": "original", "init": "lsuv"}]
    spec["dataset"] = {"name": "fashion_mnist", "train_size": 100}
    response = http.post("/experiments", params={"dry_run": "true"}, json=spec)
    assert response.status_code == 200, response.text
