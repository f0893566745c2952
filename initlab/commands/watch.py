"""`initlab watch ID`: live per-arm progress and the primary comparison as repeats finish."""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from typing import Annotated, Any

import typer

from apiclient import Client
from initlab.exits import FAILED, INTERRUPTED, api_errors
from initlab.options import ApiOption, JsonOption, api_client

TERMINAL = ("done", "failed", "cancelled")
BAR = 24  # characters of a progress bar


def arm_progress(experiment: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per arm: runs done and total, and the fraction with the running runs' epochs counted."""
    partial = {
        r["run_id"]: r["epochs_done"] / r["epochs_total"]
        for r in experiment["progress"]["running"]
        if r["epochs_total"]
    }
    arms: dict[str, dict[str, Any]] = defaultdict(lambda: {"done": 0, "total": 0, "failed": 0})
    share: dict[str, float] = defaultdict(float)
    for run in runs:
        arm = arms[run["arm"]]
        arm["total"] += 1
        arm["done"] += run["status"] == "done"
        arm["failed"] += run["status"] in ("failed", "cancelled")
        share[run["arm"]] += 1.0 if run["status"] == "done" else partial.get(run["id"], 0.0)
    for name, arm in arms.items():
        arm["fraction"] = round(share[name] / arm["total"], 4)
    return dict(arms)


def bar(fraction: float) -> str:
    filled = round(BAR * min(max(fraction, 0.0), 1.0))
    return "█" * filled + "·" * (BAR - filled)


def _number(value: Any, digits: int = 4) -> str:
    return "–" if value is None else f"{value:+.{digits}f}"


def primary_lines(summary: dict[str, Any] | None) -> list[str]:
    """The pre-declared comparison per arm: mean difference, 95% CI, p, and the decision."""
    primary = (summary or {}).get("primary") or {}
    rows = primary.get("rows") or []
    if not rows:
        return ["primary comparison: waiting for paired repeats to finish"]
    decided = {row["arm"]: row for row in (summary or {}).get("sequential") or []}
    lines = [f"primary comparison: {primary['split']} {primary['metric']} under rule "
             f"{primary['rule']}, arm minus {rows[0]['baseline']}"]
    for row in rows:
        p = "–" if row.get("t_p") is None else f"{row['t_p']:.3g}"
        decision = decided.get(row["arm"], {}).get("decided") or "undecided"
        lines.append(
            f"  {row['arm']:<20} {_number(row['mean_diff'])} "
            f"[{_number(row['ci95_low'])}, {_number(row['ci95_high'])}]  n={row['n']}  "
            f"p={p}  {decision}"
        )
    return lines


def frame(state: dict[str, Any]) -> list[str]:
    """The lines one refresh shows."""
    e = state["experiment"]
    lines = [f"experiment {e['id']} {e['name']}: {e['status']}, "
             f"{100 * e['progress']['fraction']:.1f}% done"]
    for name, arm in state["arms"].items():
        failed = f"  {arm['failed']} failed/cancelled" if arm["failed"] else ""
        lines.append(f"  {name:<20} {bar(arm['fraction'])} {arm['done']:>3}/{arm['total']}"
                     f"{failed}")
    return lines + primary_lines(state["summary"])


def poll(client: Client, experiment_id: int, previous: dict[str, Any] | None) -> dict[str, Any]:
    """The experiment, its arms' progress and (re-read only when a run finished) its summary."""
    experiment = client.experiment(experiment_id)
    runs = client.runs(experiment_id)
    arms = arm_progress(experiment, runs)
    done = sum(arm["done"] for arm in arms.values())
    summary = previous["summary"] if previous and previous["done"] == done else (
        client.summary(experiment_id) if done else None
    )
    return {"experiment": experiment, "arms": arms, "done": done, "summary": summary}


def show(lines: list[str], shown: int) -> int:
    """Draw `lines`, over the previous frame's `shown` lines on a terminal; returns the count."""
    if shown and sys.stdout.isatty():
        sys.stdout.write(f"\x1b[{shown}F\x1b[J")  # up to the frame's first line, clear below
    typer.echo("\n".join(lines))
    return len(lines)


def follow(client: Client, experiment_id: int, interval: float, as_json: bool) -> str:
    """Poll and show each change until the experiment ends; returns its final status."""
    state: dict[str, Any] | None = None
    shown, last = 0, None
    while True:
        state = poll(client, experiment_id, state)
        view = state["experiment"]["status"], state["arms"], state["summary"]
        if view != last:
            if as_json:
                primary = (state["summary"] or {}).get("primary")
                typer.echo(json.dumps({"experiment": state["experiment"],
                                       "arms": state["arms"], "primary": primary}))
            else:
                shown = show(frame(state), shown)
            last = view
        if state["experiment"]["status"] in TERMINAL:
            return str(state["experiment"]["status"])
        time.sleep(interval)


@api_errors
def watch(
    experiment_id: Annotated[int, typer.Argument(metavar="ID", help="experiment id")],
    interval: Annotated[float, typer.Option(min=0.2, help="seconds between polls")] = 2.0,
    api: ApiOption = None,
    as_json: JsonOption = False,
) -> None:
    """Follow an experiment until it ends: per-arm progress bars and the primary comparison.

    Exits 0 when every run is done, 1 when the experiment ended failed or cancelled, 130 on
    Ctrl-C (the experiment goes on). With --json, one JSON object per change.
    """
    with api_client(api) as client:
        try:
            final = follow(client, experiment_id, interval, as_json)
        except KeyboardInterrupt:
            raise typer.Exit(INTERRUPTED) from None
    if final != "done":
        raise typer.Exit(FAILED)


def register(app: typer.Typer) -> None:
    app.command()(watch)
