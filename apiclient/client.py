"""Typed calls of /api/v1 over one httpx connection pool; errors as apiclient.errors."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from apiclient.errors import ApiError, Unreachable, raise_for
from apiclient.tagged import TaggedBodies

DEFAULT_URL = "http://127.0.0.1:8000"
PREFIX = "/api/v1"
# Seconds. A command waits for a submission of thousands of runs to be stored; a page of the
# dashboard passes a shorter timeout so an absent API never freezes it.
TIMEOUT = httpx.Timeout(60.0, connect=3.0)
LIVE_TIMEOUT = httpx.Timeout(2.0, connect=1.0)  # a live panel's poll must not pile up
METRIC_PAGE = 10_000  # the API's largest page of metric rows


@dataclass(frozen=True)
class Config:
    """Where the API is and the bearer token, from INITLAB_API_URL / INITLAB_API_TOKEN."""

    url: str
    token: str | None

    @classmethod
    def from_env(cls, url: str | None = None) -> Config:
        """The environment's API, or `url` (a --api option) where given."""
        chosen = url or os.environ.get("INITLAB_API_URL") or DEFAULT_URL
        return cls(chosen.rstrip("/"), os.environ.get("INITLAB_API_TOKEN") or None)


def _spec_headers(content_type: str, idempotency_key: str | None) -> dict[str, str]:
    headers = {"Content-Type": content_type}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    return headers


class Client:
    """The InitLab REST API: one method per route, JSON bodies back as dicts and lists."""

    def __init__(
        self,
        config: Config,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout = TIMEOUT,
    ) -> None:
        self.config = config
        headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}
        self._http = httpx.Client(
            base_url=config.url + PREFIX, headers=headers, timeout=timeout, transport=transport
        )
        self._tagged = TaggedBodies()

    @property
    def url(self) -> str:
        return self.config.url

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as error:
            raise Unreachable(f"the API at {self.url} did not answer in time") from error
        except httpx.TransportError as error:
            raise Unreachable(f"the API at {self.url} is unreachable ({error})") from error

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        raise_for(response)
        return response.json() if response.content else {}  # 204: nothing to return

    def _figure(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET a computed figure, sending the ETag of the body held from last time: 304 means
        it is unchanged and no body crossed the network."""
        key = (path, tuple(sorted((params or {}).items())))
        held = self._tagged.get(key)
        headers = {"If-None-Match": held[0]} if held else {}
        response = self._send("GET", path, params=params, headers=headers)
        if response.status_code == 304 and held is not None:
            return json.loads(held[1])
        raise_for(response)
        if etag := response.headers.get("etag"):
            self._tagged.put(key, etag, response.content)
        return response.json()

    # --- service ---

    def health(self) -> dict[str, Any]:
        """GET /health; a degraded service (503) still returns its body."""
        try:
            return dict(self._request("GET", "/health", timeout=LIVE_TIMEOUT))
        except ApiError as error:
            if error.status == 503:
                return {"status": "degraded", "workers": [], "detail": error.lines}
            raise

    def presets(self) -> list[str] | None:
        """Preset names from GET /presets, or None where the API has no such endpoint."""
        try:
            body = self._request("GET", "/presets", timeout=LIVE_TIMEOUT)
        except ApiError as error:
            if error.status in (404, 405):
                return None
            raise
        items = body.get("items", body) if isinstance(body, dict) else body
        return [item["name"] if isinstance(item, dict) else str(item) for item in items]

    # --- submitting ---

    def submit(
        self,
        spec: str | bytes,
        *,
        dry_run: bool = False,
        priority: int = 5,
        content_type: str = "application/yaml",
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """POST /experiments (YAML or JSON body); dry_run validates and lists the runs only."""
        return self._submit("/experiments", spec, dry_run, priority, content_type, idempotency_key)

    def submit_sweep(
        self,
        spec: str | bytes,
        *,
        dry_run: bool = False,
        priority: int = 5,
        content_type: str = "application/yaml",
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """POST /sweeps with a body that has `sweep:`: one experiment per sweep point."""
        return self._submit("/sweeps", spec, dry_run, priority, content_type, idempotency_key)

    def _submit(
        self, path: str, spec: str | bytes, dry_run: bool, priority: int, content_type: str,
        idempotency_key: str | None,
    ) -> dict[str, Any]:
        body = spec.encode() if isinstance(spec, str) else spec
        return dict(self._request(
            "POST", path, content=body, headers=_spec_headers(content_type, idempotency_key),
            params={"dry_run": dry_run, "priority": priority},
        ))

    def import_results(self, document: dict[str, Any]) -> dict[str, Any]:
        """POST /experiments/import: a finished experiment (spec, runs with metric rows)."""
        # json.dumps, not httpx's json=: a diverged run's NaN loss must reach the API's parser.
        body = json.dumps(document).encode()
        headers = {"Content-Type": "application/json"}
        return dict(self._request("POST", "/experiments/import", content=body, headers=headers))

    # --- reading ---

    def sweep(self, sweep_id: str) -> dict[str, Any]:
        """GET /sweeps/{id}: status, progress and each experiment with its swept values."""
        return dict(self._request("GET", f"/sweeps/{quote(sweep_id, safe='')}"))

    def experiments(
        self, status: str | None = None, limit: int = 50, offset: int = 0, *,
        q: str | None = None, tag: str | None = None, archived: str = "false",
    ) -> dict[str, Any]:
        """GET /experiments: a page of the experiments that match, newest first; `q` is a name
        substring, `archived` false (default), true or all."""
        params: dict[str, Any] = {"limit": limit, "offset": offset, "archived": archived}
        for key, value in (("status", status), ("q", q), ("tag", tag)):
            if value:
                params[key] = value
        return dict(self._request("GET", "/experiments", params=params))

    def experiment(self, experiment_id: int, *, live: bool = False) -> dict[str, Any]:
        """GET /experiments/{id}: spec, status and progress."""
        timeout = LIVE_TIMEOUT if live else self._http.timeout
        return dict(self._request("GET", f"/experiments/{experiment_id}", timeout=timeout))

    def runs(self, experiment_id: int) -> list[dict[str, Any]]:
        """GET /experiments/{id}/runs, every page."""
        runs: list[dict[str, Any]] = []
        while True:
            page = self._request(
                "GET", f"/experiments/{experiment_id}/runs", params={"offset": len(runs)}
            )
            runs += page["items"]
            if not page["items"] or len(runs) >= page["total"]:
                return runs

    def run(self, run_id: int) -> dict[str, Any]:
        """GET /runs/{id}: status, attempts, re-queues, worker, environment and error."""
        return dict(self._request("GET", f"/runs/{run_id}"))

    def metrics(
        self, experiment_id: int, after: int = 0, limit: int = METRIC_PAGE, *, live: bool = False
    ) -> dict[str, Any]:
        """GET /experiments/{id}/metrics?after=: rows newer than the cursor, and the next cursor."""
        return dict(self._request(
            "GET", f"/experiments/{experiment_id}/metrics",
            params={"after": after, "limit": limit},
            timeout=LIVE_TIMEOUT if live else self._http.timeout,
        ))

    def all_metrics(self, experiment_id: int, page: int = METRIC_PAGE) -> list[dict[str, Any]]:
        """Every metric row of the experiment, following the cursor to the end."""
        rows: list[dict[str, Any]] = []
        cursor = 0
        while True:
            body = self.metrics(experiment_id, after=cursor, limit=page)
            rows += body["items"]
            if not body["items"] or body["next_cursor"] == cursor:
                return rows
            cursor = body["next_cursor"]

    def curves(
        self, experiment_id: int, *, split: str, metric: str, phase: str, band: str,
        x: str = "epoch",
    ) -> dict[str, Any]:
        """GET /experiments/{id}/curves: per arm and x, the statistics and band edges."""
        params = {"split": split, "metric": metric, "phase": phase, "band": band, "x": x}
        return dict(self._figure(f"/experiments/{experiment_id}/curves", params))

    def lines(
        self, experiment_id: int, *, split: str, metric: str, phase: str, x: str = "epoch",
        points: int = 200,
    ) -> dict[str, Any]:
        """GET /experiments/{id}/lines: each run's own line, down-sampled to `points`."""
        params = {"split": split, "metric": metric, "phase": phase, "x": x, "points": points}
        return dict(self._figure(f"/experiments/{experiment_id}/lines", params))

    def selected(self, experiment_id: int, rule: str = "val_loss") -> list[dict[str, Any]]:
        """GET /experiments/{id}/selected: per run, the epoch `rule` picks and its figures."""
        return list(self._figure(f"/experiments/{experiment_id}/selected", {"rule": rule}))

    def phases(self, experiment_id: int) -> list[str]:
        """GET /experiments/{id}/phases: the phases with metric rows, in training order."""
        return list(self._figure(f"/experiments/{experiment_id}/phases"))

    def summary(self, experiment_id: int, *, include_unfinished: bool = False) -> dict[str, Any]:
        """GET /experiments/{id}/summary: tables per rule, paired statistics, preprocessing."""
        params = {"include_unfinished": include_unfinished}
        return dict(self._figure(f"/experiments/{experiment_id}/summary", params))

    # --- acting ---

    def cancel(self, experiment_id: int) -> dict[str, Any]:
        """POST /experiments/{id}/cancel."""
        return dict(self._request("POST", f"/experiments/{experiment_id}/cancel"))

    def retry(self, run_id: int, *, fresh: bool = False) -> dict[str, Any]:
        """POST /runs/{id}/retry."""
        return dict(self._request("POST", f"/runs/{run_id}/retry", params={"fresh": fresh}))

    def archive(self, experiment_id: int) -> dict[str, Any]:
        """POST /experiments/{id}/archive: hidden from lists by default, nothing erased."""
        return dict(self._request("POST", f"/experiments/{experiment_id}/archive"))

    def restore(self, experiment_id: int) -> dict[str, Any]:
        """POST /experiments/{id}/restore: an archived experiment is listed again."""
        return dict(self._request("POST", f"/experiments/{experiment_id}/restore"))

    def annotate(self, experiment_id: int, **fields: Any) -> dict[str, Any]:
        """PATCH /experiments/{id} with name, tags and/or notes; the others stay."""
        return dict(self._request("PATCH", f"/experiments/{experiment_id}", json=fields))

    def annotate_run(self, run_id: int, **fields: Any) -> dict[str, Any]:
        """PATCH /runs/{id} with tags and/or notes; the other stays (curation, no results)."""
        return dict(self._request("PATCH", f"/runs/{run_id}", json=fields))

    # --- calibration searches (issue 27) ---

    def submit_search(
        self, spec: str | bytes, *, priority: int = 5, content_type: str = "application/yaml"
    ) -> dict[str, Any]:
        """POST /searches with a body that has `search:`."""
        body = spec.encode() if isinstance(spec, str) else spec
        return dict(self._request(
            "POST", "/searches", content=body, headers=_spec_headers(content_type, None),
            params={"priority": priority},
        ))

    def searches(self, *, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        """GET /searches: newest first."""
        return dict(self._request("GET", "/searches", params={"limit": limit, "offset": offset}))

    def search(self, search_id: int) -> dict[str, Any]:
        """GET /searches/{id}: trials, counts, and the confirmation beside the search."""
        return dict(self._request("GET", f"/searches/{search_id}"))

    def cancel_search(self, search_id: int) -> dict[str, Any]:
        """POST /searches/{id}/cancel."""
        return dict(self._request("POST", f"/searches/{search_id}/cancel"))
