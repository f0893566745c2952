"""The figures printed in the paper's Tables I, IV and V, and a check of a summary against them.

A printed figure matches when InitLab's value, under the `paper` rule, rounds to it: it lies
within half a unit of the printed figure's last decimal (the paper drops trailing zeros, so
"0.11" is checked to two decimals). Run as `python -m core.paper.printed_figures DIR...` on folders
written by `initlab import ... --out DIR`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.results_file import read_results
from core.stats.summary import summarize

# Row label of the paper -> the summary's table-row key.
STATS = {
    "Loss (mean)": "loss_mean",
    "Loss s.t.d.": "loss_std",
    "Loss (median)": "loss_median",
    "Accuracy (mean)": "acc_mean",
    "Accuracy s.t.d.": "acc_std",
    "Accuracy (median)": "acc_median",
    "Epoch taken (loss)": "epoch_mean",
}
Printed = dict[str, dict[str, dict[str, str]]]  # split -> row label -> arm -> printed figure


def _two(rows: dict[str, tuple[str, str]], arms: tuple[str, str]) -> dict[str, dict[str, str]]:
    return {label: dict(zip(arms, pair, strict=True)) for label, pair in rows.items()}


_ARMS = ("original", "smart-init")


def _table1(test: list[str], val: list[str], train: list[str]) -> Printed:
    """One image size of Table I: each list alternates original, smart-init per row."""
    test_rows = ["Loss (mean)", "Loss s.t.d.", "Accuracy (mean)", "Accuracy s.t.d."]
    val_rows = [*test_rows, "Epoch taken (loss)"]
    pairs = {
        "test": (test_rows, test),
        "val": (val_rows, val),
        "train": (val_rows, train),
    }
    return {
        split: _two({row: (v[2 * i], v[2 * i + 1]) for i, row in enumerate(rows)}, _ARMS)
        for split, (rows, v) in pairs.items()
    }


# Table I (Section II), Table IV (Section IV, test set) and Table V (Section V, test sets),
# copied from the paper as printed. Keys are the preset each table's runs followed.
PAPER: dict[str, Printed] = {
    "table1-16": _table1(
        ["4.571", "4.478", "0.036", "0.014", "15.445", "16.5", "0.734", "0.286"],
        ["4.567", "4.474", "0.036", "0.013", "14.844", "15.954", "0.585", "0.227"]
        + ["61.75", "67"],
        ["4.091", "3.941", "0.067", "0.034", "19.48", "21.629", "0.952", "0.512"]
        + ["74.75", "74.75"],
    ),
    "table1-32": _table1(
        ["4.173", "4.027", "0.11", "0.054", "20.91", "23.46", "1.041", "0.83"],
        ["4.029", "3.88", "0.101", "0.05", "20.798", "23.045", "1.175", "0.718", "26.5", "26"],
        ["3.123", "2.918", "0.08", "0.069", "32.135", "35.706", "1.334", "1.243", "50", "50"],
    ),
    "table1-64": _table1(
        ["3.136", "3.324", "0.02", "0.017", "39.225", "38.475", "0.246", "0.604"],
        ["2.887", "2.894", "0.005", "0.011", "38.868", "38.994", "0.082", "0.114"]
        + ["18.5", "16.25"],
        ["1.528", "1.243", "0.016", "0.019", "61.396", "67.581", "0.34", "0.404", "35", "35"],
    ),
    "table4-cifar10": {
        "test": {
            label: dict(zip(("original", "smart-init", "warm-start"), values, strict=True))
            for label, values in {
                "Loss (mean)": ("0.628", "0.924", "0.901"),
                "Loss (median)": ("0.589", "0.6", "0.71"),
                "Loss s.t.d.": ("0.113", "0.795", "0.493"),
                "Accuracy (mean)": ("80.12", "79.754", "79.108"),
                "Accuracy (median)": ("80.33", "80.16", "78.935"),
                "Accuracy s.t.d.": ("0.92", "1.22", "1.262"),
            }.items()
        }
    },
    "table5-mnv2": {
        "test": _two(
            {
                "Loss (mean)": ("3.794", "3.737"),
                "Loss s.t.d.": ("0.028", "0.025"),
                "Accuracy (mean)": ("24.875", "25.885"),
                "Accuracy s.t.d.": ("0.447", "0.521"),
            },
            _ARMS,
        )
    },
    "table5-mnv3s": {
        "test": _two(
            {
                "Loss (mean)": ("7.717", "6.11"),
                "Loss s.t.d.": ("2.403", "1.805"),
                "Accuracy (mean)": ("18.332", "18.74"),
                "Accuracy s.t.d.": ("0.389", "0.511"),
            },
            _ARMS,
        )
    },
}


def matches(value: float | None, printed: str) -> bool:
    """Whether `value` rounds to the printed figure at the printed number of decimals."""
    if value is None:
        return False
    decimals = len(printed.partition(".")[2])
    return abs(value - float(printed)) <= 0.5 * 10.0**-decimals + 1e-9


def compare(summary: Mapping[str, Any], preset: str) -> list[dict[str, Any]]:
    """Every printed figure of `preset`'s table beside InitLab's `paper`-rule value."""
    cells = {(row["split"], row["arm"]): row for row in summary["tables"]["paper"]}
    rows = []
    for split, by_label in PAPER[preset].items():
        for label, by_arm in by_label.items():
            for arm, printed in by_arm.items():
                value = cells.get((split, arm), {}).get(STATS[label])
                rows.append(
                    {
                        "table": preset,
                        "split": split,
                        "row": label,
                        "arm": arm,
                        "printed": printed,
                        "initlab": value,
                        "match": matches(value, printed),
                    }
                )
    return rows


def compare_folder(path: Path) -> list[dict[str, Any]]:
    """compare() for an `initlab import --out` folder (its preset is in the provenance)."""
    results = read_results(path)
    preset = str((results.get("provenance") or {}).get("preset", ""))
    if preset not in PAPER:
        raise ValueError(f"{path}: preset {preset!r} has no printed table; valid: {list(PAPER)}")
    spec = results["spec"]
    return compare(summarize(results["runs"], spec.get("baseline"), ("paper",)), preset)


def main(paths: list[str]) -> int:
    """Print a Markdown table of printed vs reproduced figures; exit 1 if any differs."""
    rows = [row for path in paths for row in compare_folder(Path(path))]
    print("| Table (preset) | Split | Row | Arm | Printed | InitLab | Match |")
    print("|---|---|---|---|---:|---:|---|")
    for r in rows:
        ours = "—" if r["initlab"] is None else f"{r['initlab']:.4f}"
        mark = "yes" if r["match"] else "**no**"
        print(
            f"| {r['table']} | {r['split']} | {r['row']} | {r['arm']} | {r['printed']}"
            f" | {ours} | {mark} |"
        )
    matched = sum(r["match"] for r in rows)
    print(f"\n{matched} of {len(rows)} printed figures reproduced.")
    return 0 if matched == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
