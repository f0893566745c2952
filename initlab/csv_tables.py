"""`initlab report --format csv --table`: one of the summary's tables as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

# all: Tables I-V then the paired statistics in one long CSV (core.reports.tables.to_csv); the
# preprocessing share has columns of its own, so it is only ever written alone.
TABLES = ("all", "tables", "paired", "preprocessing")
PREPROCESSING_COLUMNS = ["arm", "n", "preprocess_seconds_mean", "main_seconds_mean", "share"]


def csv_table(
    spec_data: Mapping[str, Any], runs: Sequence[Mapping[str, Any]], table: str,
    select: str | None,
) -> str:
    """The finished runs' `table` (tables | paired | preprocessing) as CSV."""
    from core.reports.report import counted_summary
    from core.reports.tables import CSV_COLUMNS, paired_csv_rows, summary_csv_rows
    from core.spec import parse_spec
    from core.stats.exclusions import note_rows
    from core.stats.summary import RULES

    spec = parse_spec(dict(spec_data))
    rules = (select,) if select else tuple(RULES)
    summary, _ = counted_summary(spec, runs, rules)
    if table == "preprocessing":
        columns = PREPROCESSING_COLUMNS
        rows = [{"arm": arm, **share} for arm, share in summary["preprocessing"].items()]
    else:
        columns = CSV_COLUMNS
        rows = summary_csv_rows(summary) if table == "tables" else paired_csv_rows(summary)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(rows)
    writer.writerows(note_rows(summary, columns))  # the runs left out of these figures
    return out.getvalue()
