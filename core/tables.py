"""Render `core.stats.summarize()` output as CSV, Markdown and LaTeX, laid out as Tables I–V."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

CSV_COLUMNS = ["rule", "arm", "split", "statistic", "loss", "accuracy", "epoch"]
# statistic -> the table-row keys giving its loss, accuracy (%) and epoch-taken columns
_STATISTICS = {
    "mean": ("loss_mean", "acc_mean", "epoch_mean"),
    "std": ("loss_std", "acc_std", "epoch_std"),
    "median": ("loss_median", "acc_median", "epoch_median"),
    "n": ("n", "n", "n"),
}
# Row label, table-row key, decimals: the paper's rows (Tables I–V), three decimals as printed.
_TABLE_ROWS = [
    ("Loss (mean)", "loss_mean", 3),
    ("Loss s.t.d.", "loss_std", 3),
    ("Loss (median)", "loss_median", 3),
    ("Accuracy (mean)", "acc_mean", 3),
    ("Accuracy s.t.d.", "acc_std", 3),
    ("Accuracy (median)", "acc_median", 3),
    ("Epoch taken (loss)", "epoch_mean", 2),
    ("Runs (n)", "n", 0),
]
_SPLIT_NAMES = {"val": "validation", "test": "test", "train": "training", "sample": "sample"}
_RULE_TITLES = {
    "val_loss": "Rule val_loss (the epoch of lowest validation loss)",
    "final": "Rule final (the last epoch)",
    "paper": "Rule paper (paper's arithmetic — optimistic: picks the accuracy epoch on the"
    " reported set)",
}
MISSING = "—"

Section = tuple[str, list[str], list[list[str]], int]  # title, header, body, leading text columns


def summary_csv_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per rule × arm × split × statistic (mean, std, median, n); accuracy in %."""
    rows = []
    for rule in summary["rules"]:
        for row in summary["tables"][rule]:
            for statistic, (loss, accuracy, epoch) in _STATISTICS.items():
                rows.append(
                    {
                        "rule": rule,
                        "arm": row["arm"],
                        "split": row["split"],
                        "statistic": statistic,
                        "loss": row[loss],
                        "accuracy": row[accuracy],
                        "epoch": row[epoch],
                    }
                )
    return rows


def to_csv(summary: Mapping[str, Any]) -> str:
    """The summary's tables as CSV text (empty cells where a value is undefined)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(summary_csv_rows(summary))
    return out.getvalue()


def _fmt(value: Any, decimals: int = 3) -> str:
    if value is None:
        return MISSING
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return f"{value:.{decimals}f}"


def _p(value: float | None) -> str:
    return MISSING if value is None else f"{value:.3g}"


def _rule_section(summary: Mapping[str, Any], rule: str) -> Section:
    """One rule's table: paper rows down, arm × split across (splits grouped as in Table I)."""
    cells = {(row["split"], row["arm"]): row for row in summary["tables"][rule]}
    splits = list(dict.fromkeys(split for split, _ in cells))
    columns = [(s, a) for s in splits for a in summary["arms"] if (s, a) in cells]
    header = ["Value"] + [f"{arm} ({_SPLIT_NAMES.get(s, s)})" for s, arm in columns]
    body = [
        [label] + [_fmt(cells[c][key], decimals) for c in columns]
        for label, key, decimals in _TABLE_ROWS
    ]
    return _RULE_TITLES.get(rule, f"Rule {rule}"), header, body, 1


def _paired_section(summary: Mapping[str, Any]) -> Section:
    header = ["Rule", "Split", "Metric", "Arm", "n", "Mean diff", "95% CI", "t-test p"]
    header += ["Wilcoxon p", "Win rate"]
    body = []
    for rule in summary["rules"]:
        for row in summary["paired"].get(rule, []):
            ci = f"[{_fmt(row['ci95_low'])}, {_fmt(row['ci95_high'])}]"
            win = MISSING if row["win_rate"] is None else f"{100 * row['win_rate']:.0f}%"
            metric = "accuracy (%)" if row["metric"] == "accuracy" else row["metric"]
            body.append(
                [rule, _SPLIT_NAMES.get(row["split"], row["split"]), metric, row["arm"]]
                + [str(row["n"]), _fmt(row["mean_diff"]), ci, _p(row["t_p"])]
                + [_p(row["wilcoxon_p"]), win]
            )
    title = f"Paired difference to {summary['baseline']} by repeat (arm minus baseline)"
    return title, header, body, 4


def _preprocessing_section(summary: Mapping[str, Any]) -> Section:
    header = ["Arm", "n", "Preprocess (s)", "Main (s)", "Share"]
    body = []
    for arm, row in summary["preprocessing"].items():
        share = MISSING if row["share"] is None else f"{100 * row['share']:.1f}%"
        body.append(
            [arm, str(row["n"])]
            + [_fmt(row["preprocess_seconds_mean"], 1), _fmt(row["main_seconds_mean"], 1), share]
        )
    return "Preprocessing time as a share of main training time", header, body, 1


def _sections(summary: Mapping[str, Any]) -> list[Section]:
    sections = [_rule_section(summary, rule) for rule in summary["rules"]]
    if any(summary["paired"].get(rule) for rule in summary["rules"]):
        sections.append(_paired_section(summary))
    if summary["preprocessing"]:
        sections.append(_preprocessing_section(summary))
    return sections


def to_markdown(summary: Mapping[str, Any]) -> str:
    """Tables I–V per rule, then paired comparisons and preprocessing share, as Markdown."""
    parts = []
    for title, header, body, text in _sections(summary):
        lines = [f"### {title}", "", "| " + " | ".join(header) + " |"]
        lines.append("|" + "|".join(["---"] * text + ["---:"] * (len(header) - text)) + "|")
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        parts.append("\n".join(lines))
    if summary.get("notes"):
        parts.append("\n".join(f"- {note}" for note in summary["notes"]))
    return "\n\n".join(parts) + "\n"


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "—": "---",
    "–": "--",
    "×": r"$\times$",
}


def _latex(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(char, char) for char in text)


def to_latex(summary: Mapping[str, Any]) -> str:
    """The same tables as LaTeX `table` floats using booktabs rules."""
    parts = []
    for title, header, body, text in _sections(summary):
        lines = [
            r"\begin{table}[ht]",
            r"\centering",
            rf"\caption{{{_latex(title)}}}",
            r"\begin{tabular}{" + "l" * text + "r" * (len(header) - text) + "}",
            r"\toprule",
            " & ".join(_latex(cell) for cell in header) + r" \\",
            r"\midrule",
        ]
        lines += [" & ".join(_latex(cell) for cell in cells) + r" \\" for cells in body]
        lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
