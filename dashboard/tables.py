"""DataFrames the pages show, built from API bodies and core.stats.summary (no HTTP, no
Streamlit)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from core.reports.tables import decision_cell, fixed_n_label, wilcoxon_cell, wins_cell
from core.stats.summary import SPLITS, curve_stats
from dashboard.live import runs_from_rows

RULE_LABELS = {
    "val_loss": "val_loss — epoch of lowest validation loss (honest)",
    "final": "final — the last epoch",
    "paper": "paper — the paper's arithmetic (optimistic)",
}
PAPER_WARNING = (
    "The paper rule takes, per run and split, the minimum loss and independently the maximum "
    "accuracy over epochs, choosing the accuracy epoch on the reported set itself — so it is "
    "optimistic. Compare it with val_loss."
)
MISSING = "—"


def _f(value: float | None, digits: int = 3) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def _pm(mean: float | None, std: float | None, digits: int = 3) -> str:
    if mean is None:
        return MISSING
    return f"{mean:.{digits}f} ± {_f(std, digits)}" if std is not None else f"{mean:.{digits}f}"


def split_frames(rows: Iterable[Mapping[str, Any]]) -> dict[str, pd.DataFrame]:
    """One table per split (val, test, train, sample), a row per arm: Tables I–V's figures."""
    by_split: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_split.setdefault(str(row["split"]), []).append({
            "Arm": row["arm"],
            "n": row["n"],
            "Loss (mean ± s.t.d.)": _pm(row["loss_mean"], row["loss_std"]),
            "Loss (median)": _f(row["loss_median"]),
            "Accuracy % (mean ± s.t.d.)": _pm(row["acc_mean"], row["acc_std"], 2),
            "Accuracy % (median)": _f(row["acc_median"], 2),
            "Epoch taken (mean)": _f(row["epoch_mean"], 2),
        })
    order = [s for s in SPLITS if s in by_split] + sorted(set(by_split) - set(SPLITS))
    return {split: pd.DataFrame(by_split[split]) for split in order}


def _at(stats: Sequence[Mapping[str, Any]], epoch: int) -> Mapping[str, Any] | None:
    return next((row for row in stats if row["epoch"] == epoch), None)


def _figures(prefix: str, stats: Mapping[str, Any] | None, scale: float) -> dict[str, Any]:
    """mean/std/median of one curve_stats row as table-row keys (accuracy scaled to %)."""
    out: dict[str, Any] = {}
    for key in ("mean", "std", "median"):
        value = None if stats is None else stats[key]
        out[f"{prefix}_{key}"] = None if value is None else scale * value
    return out


CurvesBy = Mapping[tuple[str, str], Mapping[str, Sequence[Mapping[str, Any]]]]


def at_epoch_rows(
    metric_rows: Iterable[Mapping[str, Any]], arms: Sequence[str], epoch: int, label: str
) -> list[dict[str, Any]]:
    """Table rows (core.stats' shape) of the main phase's figures at one epoch, over repeats."""
    runs = runs_from_rows(r for r in metric_rows if r["phase"] == "main")
    splits = {str(r["split"]) for run in runs for r in run["metrics"]}
    curves = {(split, metric): {arm: curve_stats(runs, arm, "main", split, metric)
                                for arm in arms}
              for split in splits for metric in ("loss", "accuracy")}
    return at_epoch_from_curves(curves, arms, epoch, label)


def at_epoch_from_curves(
    curves: CurvesBy, arms: Sequence[str], epoch: int, label: str
) -> list[dict[str, Any]]:
    """The same table rows from per-epoch curves, {(split, metric): {arm: rows}} (the API's)."""
    splits = {split for split, _ in curves}
    out = []
    for arm in arms:
        for split in [s for s in SPLITS if s in splits]:
            loss = _at(curves.get((split, "loss"), {}).get(arm, []), epoch)
            acc = _at(curves.get((split, "accuracy"), {}).get(arm, []), epoch)
            if loss is None and acc is None:
                continue
            out.append({
                "rule": label, "arm": arm, "split": split, "n": (loss or acc or {}).get("n", 0),
                "n_fallback": 0, **_figures("loss", loss, 1.0), **_figures("acc", acc, 100.0),
                "epoch_mean": float(epoch), "epoch_std": 0.0, "epoch_median": float(epoch),
            })
    return out


def with_table(
    summary: Mapping[str, Any], label: str, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    """The summary with one more table (e.g. 'epoch 12'), for display and export alike."""
    out = dict(summary)
    out["rules"] = [*summary.get("rules", []), label]
    out["tables"] = {**summary.get("tables", {}), label: rows}
    out["paired"] = {**summary.get("paired", {}), label: []}
    return out


def only_rule(summary: Mapping[str, Any], rule: str) -> dict[str, Any]:
    """The summary restricted to one rule (its table and its paired rows)."""
    out = dict(summary)
    out["rules"] = [rule]
    out["tables"] = {rule: summary["tables"].get(rule, [])}
    out["paired"] = {rule: summary.get("paired", {}).get(rule, [])}
    out["notes"] = [n for n in summary.get("notes", []) if n.startswith(f"{rule}:")]
    return out


def _p(value: float | None) -> str:
    return MISSING if value is None else f"{value:.3g}"


def _rel(value: float | None) -> str:
    return MISSING if value is None else f"{100 * value:+.1f}%"


def _diff_columns(row: Mapping[str, Any]) -> dict[str, Any]:
    """The effect columns every paired table shows: mean, CI, d_z, relative, t p, Holm p."""
    return {
        "n": row["n"], "Mean difference": _f(row["mean_diff"], 4),
        "95% CI": f"[{_f(row['ci95_low'], 4)}, {_f(row['ci95_high'], 4)}]",
        "d_z": _f(row.get("d_z"), 2), "Relative": _rel(row.get("relative_diff")),
        "Paired t p": _p(row["t_p"]), "Holm p": _p(row.get("p_holm")),
    }


def _metric(row: Mapping[str, Any]) -> str:
    return "accuracy (%)" if row["metric"] == "accuracy" else str(row["metric"])


def paired_frame(summary: Mapping[str, Any], rule: str) -> pd.DataFrame:
    """Each arm minus the baseline, paired by repeat: the primary row first, then secondary."""
    rows = []
    for row in summary.get("paired", {}).get(rule, []):
        rows.append({
            "Role": row.get("role", ""), "Split": row["split"], "Metric": _metric(row),
            "Arm": row["arm"], **_diff_columns(row), "Wilcoxon p (n)": wilcoxon_cell(row),
            "Wins/ties/losses": wins_cell(row),
        })
    rows.sort(key=lambda r: r["Role"] != "primary")  # stable: the rest keeps its order
    return pd.DataFrame(rows)


def primary_frame(summary: Mapping[str, Any]) -> pd.DataFrame:
    """The pre-declared comparison per arm, with its anytime-valid sequence and decision."""
    sequences = {row["arm"]: row for row in summary.get("sequential") or []}
    rows = []
    for row in (summary.get("primary") or {}).get("rows", []):
        seq = sequences.get(row["arm"], {})
        rows.append({
            "Arm": row["arm"],
            "Sequence": f"[{_f(seq.get('cs_low'), 4)}, {_f(seq.get('cs_high'), 4)}]",
            "Decision": decision_cell(seq), **_diff_columns(row),
            "Fixed-n figures": fixed_n_label(row),
        })
    return pd.DataFrame(rows)


def primary_title(summary: Mapping[str, Any]) -> str:
    """'val loss under val_loss (declared before the runs)' for the primary's heading."""
    p = summary.get("primary") or {}
    return f"{p.get('split')} {p.get('metric')} under rule {p.get('rule')}"


def equal_compute_frame(summary: Mapping[str, Any]) -> pd.DataFrame:
    """Each arm minus the baseline at equal examples trained on (summary.equal_compute)."""
    block = summary.get("equal_compute") or {}
    rows = [
        {"Split": row["split"], "Metric": _metric(row), "Arm": row["arm"], **_diff_columns(row)}
        for row in block.get("rows", [])
    ]
    return pd.DataFrame(rows)


def stopped_early_line(experiment: Mapping[str, Any]) -> str | None:
    """What stop_when_decided did and saved, for the experiment page's header; None if nothing."""
    saved = experiment.get("stopped_early")
    if not saved:
        return None
    hours = saved.get("hours_saved_estimate")
    cost = "" if hours is None else f", about {hours:.2f} worker hours (estimated)"
    return (
        f"Stopped early, decided: {saved['runs_saved']} queued run(s) cancelled{cost}."
        f" {saved['reason']}"
    )


def preprocessing_frame(summary: Mapping[str, Any]) -> pd.DataFrame:
    """Per arm: mean preprocessing and main seconds and their ratio (the paper's 2% / 25%)."""
    rows = []
    for arm, row in summary.get("preprocessing", {}).items():
        share = MISSING if row["share"] is None else f"{100 * row['share']:.1f}%"
        rows.append({
            "Arm": arm, "n": row["n"], "Preprocessing (s)": _f(row["preprocess_seconds_mean"], 2),
            "Main training (s)": _f(row["main_seconds_mean"], 2), "Share": share,
        })
    return pd.DataFrame(rows)


ENVIRONMENT = ("host", "device_name", "worker", "precision", "deterministic", "initlab_version",
               "git_commit", "python_version", "torch_version", "torchvision_version",
               "cuda_version", "init_fingerprint", "seed", "checkpoint", "wall_seconds")


def init_schemes(spec: Mapping[str, Any]) -> dict[str, str]:
    """arm -> its init scheme: the spec arm's `init` where given, else PyTorch's default."""
    return {arm["name"]: str(arm.get("init") or "pytorch") for arm in spec.get("arms", [])}


def _duration(run: Mapping[str, Any]) -> float | None:
    started, finished = run.get("started"), run.get("finished")
    if not started or not finished:
        return None
    seconds = (pd.Timestamp(finished) - pd.Timestamp(started)).total_seconds()
    return round(seconds, 1)


def _selected_figures(picked: Mapping[str, Any]) -> dict[str, Any]:
    """The selected epoch and its validation and test figures (accuracy in %)."""
    splits = picked.get("splits", {})
    epoch = (splits.get("val") or splits.get("test") or {}).get("loss_epoch")
    out: dict[str, Any] = {"Selected epoch": epoch}
    for split, label in (("val", "Val"), ("test", "Test")):
        entry = splits.get(split) or {}
        acc = entry.get("accuracy")
        out[f"{label} loss"] = entry.get("loss")
        out[f"{label} acc %"] = None if acc is None else round(100 * acc, 2)
    return out


def runs_frame(
    runs: Iterable[Mapping[str, Any]], selected: Iterable[Mapping[str, Any]] = (),
    inits: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Each run: arm, repeat, init, status, tags, attempts, host, device, time, figures, notes."""
    picks = {(p["arm"], int(p["repeat"])): p for p in selected}
    rows = []
    for run in runs:
        where = f"{run['last_phase']} {run['last_epoch']}" if run.get("last_phase") else ""
        rows.append({
            "Run": run["id"], "Arm": run["arm"], "Repeat": run["repeat"],
            "Init": (inits or {}).get(run["arm"], "pytorch"), "Status": run["status"],
            "Tags": " ".join(run.get("tags") or []),
            "Attempt": run["attempt"], "Host": run.get("host") or "",
            "Device": run.get("device_name") or "", "Duration (s)": _duration(run),
            **_selected_figures(picks.get((run["arm"], int(run["repeat"])), {})),
            "At": where, "Worker": run.get("worker") or "", "Note": run.get("note") or "",
            "Error": run.get("error") or "", "Excluded": run.get("excluded_reason") or "",
            "Notes": run.get("notes") or "",  # the user's; "Note" is InitLab's re-queue note
        })
    return pd.DataFrame(rows)


def environment(run: Mapping[str, Any]) -> dict[str, Any]:
    """What a run ran on and with: host, device, versions, numerics, seed and checkpoint."""
    return {key: run.get(key) for key in ENVIRONMENT}


def now_running(progress: Mapping[str, Any]) -> str:
    """The running runs as 'arm#repeat phase epoch (done/total)' for the list's 'Now' column."""
    parts = [
        f"{r['arm']}#{r['repeat']} {r['phase'] or 'starting'} {r['epoch'] or 0}"
        f" ({r['epochs_done']}/{r['epochs_total']})"
        for r in progress.get("running", [])
    ]
    return "; ".join(parts)


def experiments_frame(items: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The experiment list: name, tags, status, progress, runs done/total, current epochs (or
    what its queued runs wait for), created."""
    rows = []
    for e in items:
        p = e["progress"]
        rows.append({
            "ID": e["id"], "Name": e["name"], "Tags": ", ".join(e.get("tags") or []),
            "Status": e["status"], "Progress": p["fraction"],
            "Runs done": f"{p['runs_done']}/{p['runs_total']}",
            "Failed": p["runs_failed"], "Now": e.get("waiting") or now_running(p),
            "Created": pd.to_datetime(e["created"]), "Open": f"/?experiment={e['id']}",
        })
    return pd.DataFrame(rows)
