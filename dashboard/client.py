"""The one module of the dashboard that speaks HTTP: a small client of the InitLab REST API.

Every call has a short timeout so a slow or absent API never freezes a page; failures come back
as `ApiUnavailable` (nothing answered) or `ApiError` (the API answered 4xx/5xx, with its lines).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import streamlit as st

DEFAULT_URL = "http://127.0.0.1:8000"
PREFIX = "/api/v1"
# Seconds. Connecting is local or LAN-fast; reads cover a summary of a large experiment.
TIMEOUT = httpx.Timeout(5.0, connect=1.5)
LIVE_TIMEOUT = httpx.Timeout(2.0, connect=1.0)  # the 2 s live panel must not pile up
METRIC_PAGE = 10_000  # the API's largest page of metric rows


class ApiUnavailable(RuntimeError):
    """The API did not answer (refused, unreachable or too slow)."""


class ApiError(RuntimeError):
    """The API answered with an error status; `lines` holds its detail, one item per line."""

    def __init__(self, status: int, lines: list[str]) -> None:
        super().__init__(f"HTTP {status}: " + "; ".join(lines))
        self.status = status
        self.lines = lines


@dataclass(frozen=True)
class Config:
    """Where the API is and the bearer token, from INITLAB_API_URL / INITLAB_API_TOKEN."""

    url: str
    token: str | None

    @classmethod
    def from_env(cls) -> Config:
        url = os.environ.get("INITLAB_API_URL") or DEFAULT_URL
        return cls(url.rstrip("/"), os.environ.get("INITLAB_API_TOKEN") or None)


def _detail_lines(response: httpx.Response) -> list[str]:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text or response.reason_phrase
    if isinstance(detail, list):
        return [d if isinstance(d, str) else str(d.get("msg", d)) for d in detail]
    return [str(detail)]


class Client:
    """Typed calls of /api/v1; one shared httpx connection pool per API address."""

    def __init__(self, config: Config, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}
        self._http = httpx.Client(base_url=config.url + PREFIX, headers=headers, timeout=TIMEOUT,
                                  transport=transport)

    @property
    def url(self) -> str:
        return self.config.url

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as error:
            raise ApiUnavailable(f"the API at {self.url} did not answer in time") from error
        except httpx.TransportError as error:
            raise ApiUnavailable(f"the API at {self.url} is unreachable ({error})") from error
        if response.status_code >= 400:
            raise ApiError(response.status_code, _detail_lines(response))
        return response.json()

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

    def submit(self, spec_yaml: str, *, dry_run: bool = False, priority: int = 5) -> dict[str, Any]:
        """POST /experiments with a YAML body; dry_run validates and lists the runs only."""
        return dict(self._request(
            "POST", "/experiments", content=spec_yaml.encode(),
            headers={"Content-Type": "application/yaml"},
            params={"dry_run": dry_run, "priority": priority},
        ))

    def submit_sweep(
        self, spec_yaml: str, *, dry_run: bool = False, priority: int = 5
    ) -> dict[str, Any]:
        """POST /sweeps with a YAML body that has `sweep:`: one experiment per sweep point."""
        return dict(self._request(
            "POST", "/sweeps", content=spec_yaml.encode(),
            headers={"Content-Type": "application/yaml"},
            params={"dry_run": dry_run, "priority": priority},
        ))

    def sweep(self, sweep_id: str) -> dict[str, Any]:
        """GET /sweeps/{id}: status, progress and each experiment with its swept values."""
        return dict(self._request("GET", f"/sweeps/{quote(sweep_id, safe='')}"))

    def experiments(
        self, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> dict[str, Any]:
        """GET /experiments: a page of experiments with progress, newest first."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if status:
            params["status"] = status
        return dict(self._request("GET", "/experiments", params=params))

    def experiment(self, experiment_id: int, *, live: bool = False) -> dict[str, Any]:
        """GET /experiments/{id}: spec, status and progress."""
        timeout = LIVE_TIMEOUT if live else TIMEOUT
        return dict(self._request("GET", f"/experiments/{experiment_id}", timeout=timeout))

    def runs(self, experiment_id: int) -> list[dict[str, Any]]:
        """GET /experiments/{id}/runs."""
        return list(self._request("GET", f"/experiments/{experiment_id}/runs"))

    def metrics(
        self, experiment_id: int, after: int = 0, limit: int = METRIC_PAGE, *, live: bool = False
    ) -> dict[str, Any]:
        """GET /experiments/{id}/metrics?after=: rows newer than the cursor, and the next cursor."""
        return dict(self._request(
            "GET", f"/experiments/{experiment_id}/metrics",
            params={"after": after, "limit": limit}, timeout=LIVE_TIMEOUT if live else TIMEOUT,
        ))

    def curves(
        self, experiment_id: int, *, split: str, metric: str, phase: str, band: str,
        x: str = "epoch",
    ) -> dict[str, Any]:
        """GET /experiments/{id}/curves: per arm and x, the statistics and band edges."""
        params = {"split": split, "metric": metric, "phase": phase, "band": band, "x": x}
        return dict(self._request("GET", f"/experiments/{experiment_id}/curves", params=params))

    def lines(
        self, experiment_id: int, *, split: str, metric: str, phase: str, x: str = "epoch",
        points: int = 200,
    ) -> dict[str, Any]:
        """GET /experiments/{id}/lines: each run's own line, down-sampled to `points`."""
        params = {"split": split, "metric": metric, "phase": phase, "x": x, "points": points}
        return dict(self._request("GET", f"/experiments/{experiment_id}/lines", params=params))

    def selected(self, experiment_id: int, rule: str = "val_loss") -> list[dict[str, Any]]:
        """GET /experiments/{id}/selected: per run, the epoch `rule` picks and its figures."""
        return list(self._request("GET", f"/experiments/{experiment_id}/selected",
                                  params={"rule": rule}))

    def phases(self, experiment_id: int) -> list[str]:
        """GET /experiments/{id}/phases: the phases with metric rows, in training order."""
        return list(self._request("GET", f"/experiments/{experiment_id}/phases"))

    def summary(self, experiment_id: int, *, include_unfinished: bool = False) -> dict[str, Any]:
        """GET /experiments/{id}/summary: tables per rule, paired statistics, preprocessing."""
        params = {"include_unfinished": include_unfinished}
        return dict(self._request("GET", f"/experiments/{experiment_id}/summary", params=params))

    def cancel(self, experiment_id: int) -> dict[str, Any]:
        """POST /experiments/{id}/cancel."""
        return dict(self._request("POST", f"/experiments/{experiment_id}/cancel"))

    def retry(self, run_id: int, *, fresh: bool = False) -> dict[str, Any]:
        """POST /runs/{id}/retry."""
        return dict(self._request("POST", f"/runs/{run_id}/retry", params={"fresh": fresh}))

    def exclude(self, run_id: int, reason: str, by: str | None = None) -> dict[str, Any]:
        """POST /runs/{id}/exclude: leave the run out of the statistics, saying why."""
        body = {"reason": reason, "by": by or None}
        return dict(self._request("POST", f"/runs/{run_id}/exclude", json=body))

    def include(self, run_id: int) -> dict[str, Any]:
        """POST /runs/{id}/include: count an excluded run again."""
        return dict(self._request("POST", f"/runs/{run_id}/include"))

    def import_results(self, document: dict[str, Any]) -> dict[str, Any]:
        """POST /experiments/import: store a results.json document as a finished experiment."""
        return dict(self._request("POST", "/experiments/import", json=document))


@st.cache_resource(show_spinner=False)
def client_for(url: str, token: str | None) -> Client:
    """The shared client of one API address and token."""
    return Client(Config(url, token))


def get_client() -> Client:
    """The shared client of the API named by the environment (one per URL and token)."""
    config = Config.from_env()
    return client_for(config.url, config.token)
