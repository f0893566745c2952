"""What docs/calibration-fashion-mnist.md reads beyond `initlab search status --json` and
`initlab report search:ID`: Optuna's fANOVA importances and the compute the search used.

    python analyse.py API_URL SEARCH_ID > analysis.json
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

import httpx
import optuna

from dashboard.search_figures import study_of

TOKEN = "test-token-0123456789"


def importances(study: optuna.Study) -> dict[str, float]:
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))


def at_first_rung(study: optuna.Study) -> optuna.Study:
    """Every trial that ran, complete or pruned, valued by its main-epoch-1 paired difference
    (the pruner's first rung): all trials have it, so fANOVA sees them all."""
    out = optuna.create_study(direction=study.direction)
    for trial in study.trials:
        if 1 in trial.intermediate_values:
            out.add_trial(
                optuna.trial.create_trial(
                    state=optuna.trial.TrialState.COMPLETE,
                    value=trial.intermediate_values[1],
                    params=trial.params,
                    distributions=trial.distributions,
                )
            )
    return out


def run_seconds(http: httpx.Client, experiment_id: int | None) -> dict[str, Any]:
    if experiment_id is None:
        return {"runs": 0, "seconds": 0.0}
    runs = http.get(f"/experiments/{experiment_id}/runs", params={"limit": 1000}).json()
    runs = runs.get("items", runs) if isinstance(runs, dict) else runs
    total, started, statuses = 0.0, 0, {}
    for run in runs:
        statuses[run["status"]] = statuses.get(run["status"], 0) + 1
        if run.get("started") and run.get("finished"):
            started += 1
            total += (
                datetime.fromisoformat(run["finished"]) - datetime.fromisoformat(run["started"])
            ).total_seconds()
    return {"runs": len(runs), "started": started, "seconds": total, "statuses": statuses}


def main() -> None:
    url, search_id = sys.argv[1], int(sys.argv[2])
    http = httpx.Client(
        base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
    )
    search = http.get(f"/searches/{search_id}").json()
    study = study_of(search)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    out: dict[str, Any] = {"complete_trials": len(complete)}
    out["importances_complete"] = importances(study) if len(complete) >= 2 else None
    first = at_first_rung(study)
    out["first_rung_trials"] = len(first.trials)
    out["importances_first_rung"] = importances(first)
    trials = {t["number"]: run_seconds(http, t["experiment_id"]) for t in search["trials"]}
    out["compute"] = {
        "baseline": run_seconds(http, search["baseline_experiment_id"]),
        "trials": {
            "runs": sum(t["runs"] for t in trials.values()),
            "started": sum(t.get("started", 0) for t in trials.values()),
            "seconds": sum(t["seconds"] for t in trials.values()),
        },
        "confirmation": run_seconds(http, search["confirm_experiment_id"]),
        "search_created": search["created"],
        "search_finished": search["finished"],
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
