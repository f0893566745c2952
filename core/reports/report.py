"""Reports of a finished (or running) experiment: Tables I–V with paired statistics, and figures.

Input is the pair the runner and the API both hold: the spec (as JSON data) and the runs, each
with `arm`, `repeat`, optional `status` and `wall_seconds`, and `metrics` rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from core.methods import plan_for
from core.provenance import provenance_lines, with_caveats
from core.reports.figures import experiment_figures
from core.reports.tables import to_csv, to_latex, to_markdown
from core.results_file import read_results
from core.spec import ExperimentSpec, parse_spec
from core.stats.exclusions import split_excluded, with_exclusions
from core.stats.sequential import sequence_kind
from core.stats.summary import RULES, summarize

FORMATS = ("md", "csv", "latex")
Run = Mapping[str, Any]


def load_results(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(spec data, runs) from an `initlab run` folder or its results.json."""
    results = read_results(path)
    return results["spec"], list(results["runs"])


def finished(runs: Sequence[Run]) -> list[Run]:
    """Runs that finished; a run without a status (a results.json run) counts as finished."""
    return [run for run in runs if run.get("status", "done") == "done"]


def counted_summary(
    spec: ExperimentSpec, runs: Sequence[Run], rules: Sequence[str]
) -> tuple[dict[str, Any], int]:
    """(summary, runs summarised): core.stats.summary over the finished runs that count, the
    excluded
    ones (a stored experiment's `excluded_reason`) named as the service's summary names them."""
    counted, excluded = split_excluded(runs)
    done = finished(counted)
    summary = summarize(done, spec.baseline, tuple(rules), spec=spec)
    arms, baseline = [arm.name for arm in spec.arms], str(summary["baseline"] or "")
    return with_exclusions(summary, excluded, arms, baseline), len(done)


def _check(fmt: str, select: str | None) -> tuple[str, ...]:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; valid choices: {', '.join(FORMATS)}")
    if select is not None and select not in RULES:
        raise ValueError(f"unknown rule {select!r}; valid choices: {', '.join(RULES)}")
    return (select,) if select else tuple(RULES)


def _describe(spec: ExperimentSpec, done: int, total: int) -> list[str]:
    """What was compared and how: the protocol in a few lines."""
    t, d = spec.training, spec.dataset
    size = f" at {d.image_size} px" if d.image_size else ""
    arms = "; ".join(_arm_text(spec, arm.name) for arm in spec.arms)
    return [
        f"{spec.model} on {d.name}{size}" + (f", tested on {d.test}" if d.test else ""),
        f"{t.optimizer} lr {t.lr:g}, weight decay {t.weight_decay:g}, batch {t.batch_size},"
        f" {t.epochs} epochs, ExponentialLR γ {t.lr_decay:g} per epoch, augment {t.augment}",
        f"arms: {arms}",
        f"{spec.repeats} paired repeats (seed {spec.seed}), baseline {spec.baseline};"
        f" {done} of {total} runs finished are summarised",
        _primary_text(spec),
    ]


def _primary_text(spec: ExperimentSpec) -> str:
    """The pre-declared endpoint and the sequential protocol in one line."""
    p = spec.primary
    stop = "runs all repeats (stop_when_decided off)"
    if spec.stop_when_decided == "arm":
        stop = f"each arm's queued runs cancelled once it is decided after {spec.min_repeats} pairs"
    elif spec.stop_when_decided:
        stop = (
            f"queued runs cancelled once every arm is decided after at least {spec.min_repeats}"
            " pairs"
        )
    kind = sequence_kind(p.metric, p.sequence)
    return (
        f"primary endpoint: {p.split} {p.metric} under rule {p.rule}, arm minus baseline;"
        f" anytime-valid {kind} confidence sequence at alpha {spec.alpha:g}; {stop}"
    )


def _arm_text(spec: ExperimentSpec, name: str) -> str:
    """An arm's method and stages (fraction × epochs) in words."""
    plan = plan_for(spec.arm(name))
    stages = ", ".join(f"{100 * s.fraction:g}% × {s.epochs}" for s in plan.stages) or "no stages"
    if plan.preprocess_epochs:
        stages += f", {plan.preprocess_epochs} full-data preprocessing epoch(s) before main"
    return f"{name} ({spec.arm(name).method}: {stages})"


def render_report(
    spec_data: Mapping[str, Any],
    runs: Sequence[Run],
    fmt: str = "md",
    select: str | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> str:
    """The tables of Tables I–V per rule with paired statistics, in `fmt` (md, csv or latex).

    An imported experiment's `provenance` (source, licence, caveats) heads the report and
    closes its tables.
    """
    rules = _check(fmt, select)
    spec = parse_spec(dict(spec_data))
    counted, done = counted_summary(spec, runs, rules)
    summary = with_caveats(counted, provenance)
    if fmt == "csv":
        return to_csv(summary)
    lines = _describe(spec, done, len(runs)) + provenance_lines(provenance)
    if fmt == "latex":
        head = [f"% Report: {spec.name}"] + [f"% {line}" for line in lines]
        return "\n".join(head) + "\n\n" + to_latex(summary)
    head = [f"# Report: {spec.name}", ""] + [f"- {line}" for line in lines]
    if not done:
        return "\n".join(head) + "\n\nNo run has finished yet.\n"
    if select is None:
        head += [
            "",
            "Three selection rules: `val_loss` (honest model selection), `final`, and `paper`"
            " (the paper's arithmetic, optimistic: it picks the accuracy epoch on the reported"
            " set). All are computed and shown; only the primary comparison is confirmatory.",
        ]
    return "\n".join(head) + "\n\n" + to_markdown(summary)


def report_figures(
    spec_data: Mapping[str, Any],
    runs: Sequence[Run],
    out: Path,
    *,
    from_epoch: int = 1,
    band: str = "iqr",
) -> list[Path]:
    """Figures 2–5 (main phase) and Fig. 3 style stage curves as PNG and SVG under `out`."""
    name = str(spec_data.get("name", "experiment"))
    return experiment_figures(list(runs), out, name=name, from_epoch=from_epoch, kind=band)
