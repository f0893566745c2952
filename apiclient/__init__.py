"""The one HTTP client of the InitLab REST API, shared by the CLI, `initlab report` and the
dashboard. Imports only httpx, so a command that talks to the API starts fast."""

from apiclient.client import DEFAULT_URL, LIVE_TIMEOUT, METRIC_PAGE, PREFIX, Client, Config
from apiclient.errors import ApiError, AuthFailed, Unreachable, problem_path

__all__ = [
    "DEFAULT_URL",
    "LIVE_TIMEOUT",
    "METRIC_PAGE",
    "PREFIX",
    "ApiError",
    "AuthFailed",
    "Client",
    "Config",
    "Unreachable",
    "problem_path",
]
