"""Service configuration from `INITLAB_*` environment variables (pydantic-settings), read alike
by the API, the workers and the service CLI."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# docker-compose.yml's development defaults: refused in production.
DEFAULT_PASSWORDS = frozenset({"initlab", "initlab-minio"})


class Settings(BaseSettings):
    """Everything the API, the worker and the service CLI read from the environment."""

    model_config = SettingsConfigDict(env_prefix="INITLAB_", extra="ignore")

    environment: Literal["development", "production"] = Field(
        "development", description="'production' refuses to start without a strong API token"
    )
    database_url: str = Field("sqlite:///./var/initlab.db", description="SQLAlchemy URL")
    # "filesystem://" is the embedded broker: message files under broker_dir, no server.
    broker_url: str = Field(
        "filesystem://", description="Celery broker (filesystem:// or redis://)"
    )
    broker_dir: Path = Field(Path("./var/broker"), description="folder of the embedded broker")
    broker_poll_interval: float = Field(0.1, gt=0, description="seconds between broker polls")
    queue_name: str = Field("initlab", description="Celery queue the runs go through")
    redis_key_prefix: str = Field("", description="prefix of every Redis key (shared servers)")
    api_token: SecretStr | None = Field(None, description="bearer token; unset = open API")
    # Unset: "token" when INITLAB_API_TOKEN is set, else "none" (how it was before accounts).
    auth: Literal["accounts", "token", "none"] | None = Field(
        None, description="accounts: users and their tokens; token: INITLAB_API_TOKEN as admin"
    )
    session_hours: float = Field(12.0, gt=0, description="lifetime of a login session's token")
    login_failures: int = Field(5, ge=1, description="failed logins before the throttle")
    login_lockout: float = Field(300.0, gt=0, description="seconds a throttled login waits")
    idempotency_ttl: float = Field(
        86_400.0, gt=0, description="seconds an Idempotency-Key is remembered (24 h)"
    )
    data_root: str = Field(
        "./data", description="folder every dataset path of a submitted spec must stay inside"
    )
    state_dir: Path | None = Field(
        None, description="folder of the SQLite store, broker folder and checkpoints"
    )
    artifact_dir: Path = Field(
        Path("./var/artifacts"), description="checkpoints, <run id>.<fence>.pt"
    )
    # INITLAB_ARTIFACT_URL wins over INITLAB_ARTIFACT_DIR (its older synonym for a path).
    artifact_url: str | None = Field(
        None, description="checkpoint root: a local path or an fsspec URL (s3://bucket/prefix)"
    )
    s3_endpoint: str | None = Field(
        None, description="S3-compatible endpoint of an s3:// artifact root (MinIO, ...)"
    )
    scratch_dir: Path = Field(
        Path("./var/scratch"), description="local checkpoint files of a remote artifact root"
    )
    handback_limit: int = Field(
        3, ge=1, description="hand-backs (checkpoint or data not readable) before a run fails"
    )
    dashboard_origin: str | None = Field(
        "http://localhost:8501", description="the one origin CORS admits"
    )
    max_body_bytes: int = Field(1_000_000, ge=1024, description="largest request body accepted")
    max_import_bytes: int = Field(
        64_000_000, ge=1024, description="largest results.json POST /experiments/import accepts"
    )
    max_runs_per_submission: int = Field(
        5000, ge=1, description="most runs one submission (all sweep points together) may queue"
    )
    # NoDecode: a plain comma-separated list in the environment, not JSON.
    allowed_model_modules: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="modules whose factories `model: import:<module>:<factory>` may name "
        "(comma-separated); empty: no import: models",
    )
    api_url: str = Field("http://127.0.0.1:8000", description="where the CLI finds the API")
    # Liveness, in seconds, judged on the database's clock (store/clock.py). A run whose
    # heartbeat is older than heartbeat_timeout is re-queued; one that beats but advances no
    # batch or epoch for stall_timeout is re-queued as stalled; a queued run with no message in
    # the broker for queue_grace is published again.
    heartbeat_interval: float = Field(10.0, gt=0)
    heartbeat_timeout: float = Field(120.0, gt=0)
    stall_timeout: float = Field(
        1800.0, gt=0, description="seconds without a batch or epoch advancing: stalled"
    )
    sweep_interval: float = Field(10.0, gt=0, description="seconds between recovery passes")
    queue_grace: float = Field(60.0, gt=0)
    # SIGTERM to SIGKILL: the supervisor's wait and docker-compose's stop_grace_period alike;
    # long enough for an evaluation to end and the run to be handed back.
    stop_grace: float = Field(120.0, gt=0, description="seconds a stopping worker may take")
    stop_poll_interval: float = Field(1.5, ge=0, description="cache of the cancel check")
    redis_visibility_timeout: int = Field(6 * 3600, description="Redis redelivery of unacked")
    device: str = Field("cpu", description="torch device of this worker slot")
    host_name: str | None = Field(
        None, description="this host's name in node names and runs (unset: the hostname)"
    )
    epoch_delay: float = Field(0.0, ge=0, description="testing only: sleep after each epoch")
    fault_file: Path | None = Field(
        None, description="testing only: fault-injection file read by workers (worker/faults.py)"
    )

    @model_validator(mode="before")
    @classmethod
    def _under_state_dir(cls, data: object) -> object:
        """INITLAB_STATE_DIR places the store, broker folder, checkpoints and scratch files
        under one folder for every entry point (API, worker, CLI); a setting given on its own
        wins."""
        if not isinstance(data, dict) or not data.get("state_dir"):
            return data
        root = Path(str(data["state_dir"])).resolve()
        defaults = {
            "database_url": f"sqlite:///{root / 'initlab.db'}",
            "broker_dir": root / "broker",
            "artifact_dir": root / "artifacts",
            "scratch_dir": root / "scratch",
        }
        return {**defaults, **{k: v for k, v in data.items() if v not in (None, "")}}

    @field_validator(
        "auth", "api_token", "artifact_url", "s3_endpoint", "host_name", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # docker-compose passes ${INITLAB_AUTH:-} as ""

    @field_validator("allowed_model_modules", mode="before")
    @classmethod
    def _split_modules(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.auth_mode == "token" and self.api_token is None:
            raise ValueError("INITLAB_AUTH=token needs INITLAB_API_TOKEN")
        if self.environment == "production" and self.auth_mode != "accounts":
            token = self.api_token.get_secret_value() if self.api_token else ""
            if len(token) < 16:
                raise ValueError(
                    "INITLAB_ENVIRONMENT=production needs INITLAB_AUTH=accounts, or "
                    "INITLAB_API_TOKEN set to at least 16 characters"
                )
        if self.environment == "production" and (defaults := self.default_secrets()):
            raise ValueError(
                f"INITLAB_ENVIRONMENT=production refuses the default password of "
                f"{', '.join(defaults)}; set your own in .env (deploy/main-host.env.example)"
            )
        return self

    def default_secrets(self) -> list[str]:
        """Which settings carry a password docker-compose.yml defaults to (development only)."""
        found = []
        if urlsplit(self.database_url).password in DEFAULT_PASSWORDS:
            found.append("INITLAB_DATABASE_URL (POSTGRES_PASSWORD)")
        if urlsplit(self.broker_url).password in DEFAULT_PASSWORDS:
            found.append("INITLAB_BROKER_URL (REDIS_PASSWORD)")
        if self.artifact_url and os.environ.get("AWS_SECRET_ACCESS_KEY") in DEFAULT_PASSWORDS:
            found.append("AWS_SECRET_ACCESS_KEY (MINIO_ROOT_PASSWORD)")
        return found

    @property
    def auth_mode(self) -> Literal["accounts", "token", "none"]:
        """Who may call the API: signed-in users, holders of the one token, or anyone."""
        if self.auth is not None:
            return self.auth
        return "token" if self.api_token is not None else "none"

    @property
    def artifact_root(self) -> str:
        """Where checkpoints live: INITLAB_ARTIFACT_URL, else INITLAB_ARTIFACT_DIR."""
        return self.artifact_url or str(self.artifact_dir.resolve())

    @property
    def is_embedded_broker(self) -> bool:
        return self.broker_url.startswith("filesystem://")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
