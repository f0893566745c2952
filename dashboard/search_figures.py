"""A search's figures from its API body (GET /searches/{id}): Optuna's own Plotly figures
(optimisation history, parallel coordinates, parameter importances) over a study rebuilt from
the stored trials, and the tables of trials and of the confirmation. No HTTP, no Streamlit."""

from __future__ import annotations

from typing import Any

import optuna
import pandas as pd
from plotly.graph_objects import Figure

from core.search.study import distributions
from core.spec import parse_spec


def study_of(search: dict[str, Any]) -> optuna.Study:
    """The search's trials as an in-memory Optuna study (over-budget draws left out: they never
    ran), for Optuna's figures."""
    spec = parse_spec(search["spec"])
    assert spec.search is not None
    dists = distributions(spec.search)
    study = optuna.create_study(direction=search["direction"])
    for trial in search["trials"]:
        if trial["state"] in ("over_budget", "running"):
            continue
        state = {"complete": "COMPLETE", "pruned": "PRUNED"}.get(trial["state"], "FAIL")
        steps = {int(k): v for k, v in trial["intermediate"].items()}
        study.add_trial(optuna.trial.create_trial(
            state=optuna.trial.TrialState[state],
            value=trial["value"] if state == "COMPLETE" else None,
            params={k: trial["params"][k] for k in dists},
            distributions=dists,
            intermediate_values=steps if state != "FAIL" else {},
        ))
    return study


def figures(search: dict[str, Any]) -> dict[str, Figure | str]:
    """Title -> Optuna's figure, or the reason it cannot be drawn yet."""
    study = study_of(search)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    out: dict[str, Figure | str] = {}
    makers = {
        "Optimisation history": optuna.visualization.plot_optimization_history,
        "Intermediate values (pruning)": optuna.visualization.plot_intermediate_values,
        "Parallel coordinates": optuna.visualization.plot_parallel_coordinate,
        "Parameter importances": optuna.visualization.plot_param_importances,
    }
    for title, make in makers.items():
        if len(complete) < 2:
            out[title] = "needs two completed trials"
            continue
        try:
            out[title] = make(study)
        except (ValueError, RuntimeError) as error:  # e.g. importances of one-valued params
            out[title] = f"cannot be drawn yet: {error}"
    return out


def trials_frame(search: dict[str, Any]) -> pd.DataFrame:
    """One row per trial: number, state, value, share of the budget, parameters, reason."""
    rows = []
    for trial in search["trials"]:
        rows.append({"trial": trial["number"], "state": trial["state"], "value": trial["value"],
                     "preprocess share": trial["preprocess_share"],
                     **{k.removeprefix("stages."): v for k, v in trial["params"].items()},
                     "experiment": trial["experiment_id"], "reason": trial["reason"] or ""})
    return pd.DataFrame(rows)


def confirmation_frame(search: dict[str, Any]) -> pd.DataFrame | None:
    """The search's estimate beside the confirmed one per arm (the winner's curse)."""
    confirmation = search.get("confirmation")
    if not confirmation:
        return None
    rows = []
    for arm in confirmation["arms"]:
        c = arm["confirmed"]
        rows.append({"arm": arm["arm"], "search estimate": arm["search_estimate"],
                     "confirmed": c["mean_diff"], "95% CI low": c["ci95_low"],
                     "95% CI high": c["ci95_high"], "n": c["n"],
                     "gap (winner's curse)": arm["winners_curse_gap"],
                     "decision": arm["decision"] or "undecided"})
    return pd.DataFrame(rows)

