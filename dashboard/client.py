"""The dashboard's client of the InitLab REST API: apiclient with a page's short timeouts.

Every call has a short timeout so a slow or absent API never freezes a page; failures come back
as `ApiUnavailable` (nothing answered) or `ApiError` (the API answered 4xx/5xx, with its lines).
"""

from __future__ import annotations

import httpx
import streamlit as st

import apiclient
from apiclient import METRIC_PAGE, ApiError, Config
from apiclient import Unreachable as ApiUnavailable

__all__ = ["METRIC_PAGE", "ApiError", "ApiUnavailable", "Client", "Config", "client_for",
           "get_client"]

# Seconds. Connecting is local or LAN-fast; reads cover a summary of a large experiment.
TIMEOUT = httpx.Timeout(5.0, connect=1.5)


class Client(apiclient.Client):
    """apiclient.Client with the dashboard's timeouts; one httpx pool per API address."""

    def __init__(self, config: Config, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(config, transport=transport, timeout=TIMEOUT)


@st.cache_resource(show_spinner=False)
def client_for(url: str, token: str | None) -> Client:
    """The shared client of one API address and token."""
    return Client(Config(url, token))


def get_client() -> Client:
    """The shared client of the API named by the environment (one per URL and token)."""
    config = Config.from_env()
    return client_for(config.url, config.token)
