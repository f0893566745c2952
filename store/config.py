"""Service configuration from `INITLAB_*` environment variables (pydantic-settings), read alike
by the API, the workers and the service CLI."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    data_root: str = Field(
        "./data", description="folder every dataset path of a submitted spec must stay inside"
    )
    artifact_dir: Path = Field(
        Path("./var/artifacts"), description="checkpoints, <run id>.<fence>.pt"
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
    epoch_delay: float = Field(0.0, ge=0, description="testing only: sleep after each epoch")
    fault_file: Path | None = Field(
        None, description="testing only: fault-injection file read by workers (worker/faults.py)"
    )

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment == "production":
            token = self.api_token.get_secret_value() if self.api_token else ""
            if len(token) < 16:
                raise ValueError(
                    "INITLAB_API_TOKEN must be set to at least 16 characters when "
                    "INITLAB_ENVIRONMENT=production"
                )
        return self

    @property
    def is_embedded_broker(self) -> bool:
        return self.broker_url.startswith("filesystem://")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
