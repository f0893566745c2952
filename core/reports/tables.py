"""Render `core.stats.summary.summarize()` output as CSV, Markdown and LaTeX, laid out as Tables
I–V."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

from core.stats.exclusions import comment_lines, exclusion_notes, note_rows

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
_KEYS = ("rule", "arm", "split", "statistic")
# statistic name in the CSV -> key of a paired row (summary.paired, summary.equal_compute)
_PAIRED_STATISTICS = {
    "diff_n": "n",
    "diff_mean": "mean_diff",
    "diff_ci95_low": "ci95_low",
    "diff_ci95_high": "ci95_high",
    "d_z": "d_z",
    "relative_diff": "relative_diff",
    "t_p": "t_p",
    "p_holm": "p_holm",
    "wilcoxon_p": "wilcoxon_p",
    "win_rate": "win_rate",
    "wins": "wins",
    "ties": "ties",
    "losses": "losses",
    "wilcoxon_n": "wilcoxon_n",
}

# title, header, body, leading text columns, a sentence that precedes the table ("" for none)
Section = tuple[str, list[str], list[list[str]], int, str]


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


def paired_csv_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Paired and equal-compute statistics in the same long form: one row per rule × arm ×
    split × statistic (diff_mean, d_z, p_holm, …), the loss and accuracy (%) figures across."""
    out: dict[tuple[str, ...], dict[str, Any]] = {}
    for row in _all_paired(summary):
        for statistic, field in _PAIRED_STATISTICS.items():
            key = (row["rule"], row["arm"], row["split"], statistic)
            cell = out.setdefault(key, dict(zip(_KEYS, key, strict=True)))
            cell[row["metric"]] = row.get(field)
    return list(out.values())


def _all_paired(summary: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    rows = [row for rule in summary["rules"] for row in summary["paired"].get(rule, [])]
    return rows + list((summary.get("equal_compute") or {}).get("rows", []))


def to_csv(summary: Mapping[str, Any]) -> str:
    """The summary's tables, then its paired statistics, as CSV (empty cells where undefined);
    last, a "note" row naming any runs excluded from them (core.stats.exclusions.note_rows)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(summary_csv_rows(summary))
    writer.writerows(paired_csv_rows(summary))
    writer.writerows(note_rows(summary, CSV_COLUMNS))
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
    return _RULE_TITLES.get(rule, f"Rule {rule}"), header, body, 1, ""


def _metric(row: Mapping[str, Any]) -> str:
    return "accuracy (%)" if row["metric"] == "accuracy" else str(row["metric"])


def _diff_cells(row: Mapping[str, Any]) -> list[str]:
    """n, mean difference, CI, d_z, relative difference: the cells every paired table shares."""
    ci = f"[{_fmt(row['ci95_low'])}, {_fmt(row['ci95_high'])}]"
    rel = MISSING if row["relative_diff"] is None else f"{100 * row['relative_diff']:+.1f}%"
    return [str(row["n"]), _fmt(row["mean_diff"]), ci, _fmt(row["d_z"], 2), rel]


_DIFF_HEADER = ["n", "Mean diff", "95% CI", "d_z", "Relative"]


def decision_cell(seq: Mapping[str, Any]) -> str:
    """'better (after 6 ≥ 5 pairs: may stop)', with the t-mixture's flag and a degenerate note."""
    decided = str(seq.get("decided", MISSING))
    if seq.get("stop"):
        decided += f" (after {seq['n']} ≥ {seq['min_repeats']} pairs: may stop)"
    if seq.get("degenerate"):
        decided += " (degenerate: every difference equal)"
    flags = {"skewed": "look skewed", "outliers": "have outliers"}
    flag = flags.get(str(seq.get("assumption_flag")))
    if flag:
        decided += f" (differences {flag}: normality in doubt)"
    return decided


def fixed_n_label(row: Mapping[str, Any]) -> str:
    """How to read a row's fixed-n figures: biased after an early stop."""
    return "biased (stopped early)" if row.get("optional_stopping") else "fixed n"


def _primary_section(summary: Mapping[str, Any]) -> Section:
    primary = summary["primary"]
    decisions = {row["arm"]: row for row in summary.get("sequential", [])}
    header = ["Arm", "Sequence", "Decision", *_DIFF_HEADER, "t-test p", "Fixed-n figures"]
    body = []
    for row in primary["rows"]:
        seq = decisions.get(row["arm"], {})
        cs = f"[{_fmt(seq.get('cs_low'))}, {_fmt(seq.get('cs_high'))}]"
        body.append([row["arm"], cs, decision_cell(seq), *_diff_cells(row), _p(row["t_p"]),
                     fixed_n_label(row)])  # fmt: skip
    what = f"{_SPLIT_NAMES.get(primary['split'], primary['split'])} {_metric(primary)}"
    title = f"Primary comparison: {what} under rule {primary['rule']}"
    title += f", arm minus {summary['baseline']}"
    return title, header, body, 1, _primary_intro(list(decisions.values()))


def _primary_intro(sequences: list[Mapping[str, Any]]) -> str:
    alpha = sequences[0]["alpha"] if sequences else 0.05
    assumes = sorted({str(row["assumes"]) for row in sequences if row.get("assumes")})
    return (
        "Declared before the runs. Sequence: the anytime-valid confidence sequence of the mean"
        f" difference (level {1 - alpha:g} over all arms, alpha split equally, and every number of"
        " pairs; an unbounded end shows as —), intersected over every number of pairs seen, so a"
        " decision never reverts; it stays valid however often it was looked at, under its"
        " condition: " + ("; ".join(assumes) or "see docs/statistics.md")
        + ". The fixed-n figures beside it (CI, d_z, p) are biased where the runs stopped early."
    )


def _sequence_section(summary: Mapping[str, Any]) -> Section:
    header = ["Arm", "Pairs", "Mean diff", "Sequence low", "Sequence high"]
    body = [
        [row["arm"], str(point["n"]), _fmt(point["mean_diff"]), _fmt(point["cs_low"]),
         _fmt(point["cs_high"])]
        for row in summary["sequential"]
        for point in row["path"]
    ]
    return "The primary's confidence sequence after each pair", header, body, 1, ""


def _equal_compute_section(summary: Mapping[str, Any]) -> Section:
    block = summary["equal_compute"]
    header = ["Split", "Metric", "Arm", *_DIFF_HEADER, "t-test p", "Holm p", "Epochs (arm/base)"]
    epochs: dict[str, tuple[list[int], list[int]]] = {}
    for point in block["points"]:
        pair = epochs.setdefault(point["arm"], ([], []))
        pair[0].append(point["arm_epoch"])
        pair[1].append(point["baseline_epoch"])
    body = []
    for row in block["rows"]:
        arm_e, base_e = epochs.get(row["arm"], ([], []))
        where = f"{_mean(arm_e)}/{_mean(base_e)}"
        body.append(
            [_SPLIT_NAMES.get(row["split"], row["split"]), _metric(row), row["arm"]]
            + [*_diff_cells(row), _p(row["t_p"]), _p(row["p_holm"]), where]
        )
    title = f"Equal compute: difference to {summary['baseline']} at equal examples trained on"
    return title, header, body, 3, block["compares"]


def _mean(values: list[int]) -> str:
    return _fmt(sum(values) / len(values), 1) if values else MISSING


def _secondary_section(summary: Mapping[str, Any]) -> Section:
    header = ["Rule", "Split", "Metric", "Arm", *_DIFF_HEADER, "t-test p", "Holm p"]
    header += ["Wilcoxon p (n)", "Wins/ties/losses"]
    body = []
    for rule in summary["rules"]:
        for row in summary["paired"].get(rule, []):
            if row.get("role") == "primary":
                continue
            body.append(
                [rule, _SPLIT_NAMES.get(row["split"], row["split"]), _metric(row), row["arm"]]
                + [*_diff_cells(row), _p(row["t_p"]), _p(row["p_holm"])]
                + [wilcoxon_cell(row), wins_cell(row)]
            )
    title = f"Paired difference to {summary['baseline']} by repeat (arm minus baseline):"
    title += " secondary comparisons (Holm-adjusted)"
    intro = (
        "Every other rule × split × metric computed; Holm p adjusts the t-test p over all rows of"
        " its rule. Read these as exploratory: the primary comparison above is the one declared."
    )
    return title, header, body, 4, intro


def wilcoxon_cell(row: Mapping[str, Any]) -> str:
    """'0.031 (n=7)': Wilcoxon's p and the non-zero differences it ranked."""
    n = row.get("wilcoxon_n")
    return _p(row.get("wilcoxon_p")) + ("" if n is None else f" (n={n})")


def wins_cell(row: Mapping[str, Any]) -> str:
    """'6/1/3': repeats where the arm did better, tied, did worse (ties are not losses)."""
    if row.get("wins") is None:  # a summary stored before wins/ties/losses were counted
        return MISSING if row.get("win_rate") is None else f"{100 * row['win_rate']:.0f}% wins"
    return f"{row['wins']}/{row['ties']}/{row['losses']}"


def _preprocessing_section(summary: Mapping[str, Any]) -> Section:
    header = ["Arm", "n", "Preprocess (s)", "Main (s)", "Share"]
    body = []
    for arm, row in summary["preprocessing"].items():
        share = MISSING if row["share"] is None else f"{100 * row['share']:.1f}%"
        body.append(
            [arm, str(row["n"])]
            + [_fmt(row["preprocess_seconds_mean"], 1), _fmt(row["main_seconds_mean"], 1), share]
        )
    return "Preprocessing time as a share of main training time", header, body, 1, ""


def _sections(summary: Mapping[str, Any]) -> list[Section]:
    """In report order: primary and its sequence, Tables I–V, equal compute, secondary, cost."""
    sections = []
    if (summary.get("primary") or {}).get("rows"):
        sections.append(_primary_section(summary))
    if any(row["path"] for row in summary.get("sequential") or []):
        sections.append(_sequence_section(summary))
    sections += [_rule_section(summary, rule) for rule in summary["rules"]]
    if (summary.get("equal_compute") or {}).get("rows"):
        sections.append(_equal_compute_section(summary))
    rows = [r for rule in summary["rules"] for r in summary["paired"].get(rule, [])]
    if any(row.get("role") != "primary" for row in rows):
        sections.append(_secondary_section(summary))
    if summary["preprocessing"]:
        sections.append(_preprocessing_section(summary))
    return sections


def to_markdown(summary: Mapping[str, Any]) -> str:
    """Tables I–V per rule, then paired comparisons and preprocessing share, as Markdown."""
    parts = []
    for title, header, body, text, intro in _sections(summary):
        lines = [f"### {title}", ""] + ([intro, ""] if intro else [])
        lines.append("| " + " | ".join(header) + " |")
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
    """The same tables as LaTeX `table` floats using booktabs rules. Runs excluded from them
    are named twice: a comment heading the source, and a paragraph under the tables."""
    parts = ["\n".join(comment_lines(summary))] if exclusion_notes(summary) else []
    for title, header, body, text, intro in _sections(summary):
        lines = ([_latex(intro), ""] if intro else []) + [
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
    parts += [r"\noindent " + _latex(" ".join(note.split())) for note in exclusion_notes(summary)]
    return "\n\n".join(parts) + "\n"
