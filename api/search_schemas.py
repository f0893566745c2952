"""Typed answers of /searches (issue 27), so OpenAPI describes every field."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class SearchBrief(BaseModel):
    id: int
    name: str
    status: str  # running | confirming | done | cancelled | failed
    note: str | None
    owner: str | None
    created: datetime
    finished: datetime | None
    baseline_experiment_id: int | None
    confirm_experiment_id: int | None


class SearchPage(BaseModel):
    items: list[SearchBrief]
    total: int
    limit: int
    offset: int


class TrialOut(BaseModel):
    number: int
    state: str  # running | complete | pruned | over_budget | failed
    params: dict[str, Any]
    stages: list[dict[str, Any]]
    preprocess_share: float
    value: float | None
    intermediate: dict[str, float]  # main epoch -> mean paired difference so far
    experiment_id: int | None
    reason: str | None


class TrialCounts(BaseModel):
    ran: int
    complete: int
    pruned: int
    failed: int
    running: int
    over_budget: int
    pruned_share: float | None


class RunEpochs(BaseModel):
    trained: int  # main-phase epochs the trials' runs trained
    runs: int
    full: int  # what they would have trained without pruning


class Estimate(BaseModel):
    n: int
    mean_diff: float | None
    ci95_low: float | None
    ci95_high: float | None


class ConfirmedArm(BaseModel):
    arm: str
    trial: int | None  # None for the paper's default schedule
    search_estimate: float | None
    confirmed: Estimate
    winners_curse_gap: float | None  # search estimate minus confirmed
    decision: str | None  # the primary's confidence sequence


class Confirmation(BaseModel):
    experiment_id: int
    status: str | None
    seed: int
    arms: list[ConfirmedArm]


class SearchDetail(SearchBrief):
    spec: dict[str, Any]
    direction: str
    objective: str
    trials: list[TrialOut]
    counts: TrialCounts
    main_run_epochs: RunEpochs
    confirmation: Confirmation | None
