"""`initlab search SPEC` and `initlab search status|watch|cancel|report ID` (issue 27).

Only the API client is imported, so these start fast like the other service commands.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import typer

from initlab.commands.experiments import spec_body
from initlab.exits import FAILED, INTERRUPTED, USAGE, api_errors, fail
from initlab.options import ApiOption, JsonOption, api_client, print_json

ACTIONS = ("status", "watch", "cancel", "report")
ENDED = ("done", "failed", "cancelled")


def _number(value: Any, digits: int = 4) -> str:
    return "–" if value is None else f"{value:+.{digits}f}"


def _params(params: dict[str, Any]) -> str:
    shown = []
    for key, value in params.items():
        name = key.removeprefix("stages.")
        shown.append(f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}")
    return " ".join(shown)


def summary_lines(search: dict[str, Any]) -> list[str]:
    """The search in a few lines: status, counts, run-epochs, the best trial."""
    counts, epochs = search["counts"], search["main_run_epochs"]
    share = counts["pruned_share"]
    lines = [
        f"search {search['id']} {search['name']}: {search['status']}"
        + (f" ({search['note']})" if search.get("note") else ""),
        f"  objective: {search['objective']} ({search['direction']})",
        f"  trials: {counts['ran']} ran, {counts['complete']} complete, {counts['pruned']} pruned"
        f" ({'–' if share is None else f'{100 * share:.0f}%'}), {counts['failed']} failed,"
        f" {counts['running']} running; {counts['over_budget']} over budget, never run",
        f"  main-phase run-epochs trained: {epochs['trained']} of {epochs['full']} without"
        " pruning",
    ]
    return lines


def trial_lines(search: dict[str, Any]) -> list[str]:
    lines = ["  trial  state        value      share  schedule"]
    for t in search["trials"]:
        lines.append(f"  {t['number']:>5}  {t['state']:<11} {_number(t['value']):>9}"
                     f"  {t['preprocess_share']:6.3f}  {_params(t['params'])}")
    return lines


# The two columns answer different questions; side by side they can read as a contradiction.
READING = ("confirmed: the search's objective (at equal compute); primary: the decision of the"
           " primary endpoint's confidence sequence (each run read at its selected main epoch,"
           " not at equal compute)")


def confirmation_lines(search: dict[str, Any]) -> list[str]:
    """The search's estimate beside the confirmed one (new seed): the winner's curse."""
    confirmation = search.get("confirmation")
    if not confirmation:
        return ["  confirmation: not yet (it starts when the trials are spent)"]
    lines = [f"  confirmation: experiment {confirmation['experiment_id']}, seed"
             f" {confirmation['seed']}, {confirmation['status']}",
             "  arm               search est.  confirmed (95% CI)"
             "                 n  gap   primary"]
    for arm in confirmation["arms"]:
        c = arm["confirmed"]
        ci = (f"[{_number(c['ci95_low'])}, {_number(c['ci95_high'])}]"
              if c["ci95_low"] is not None else "")
        lines.append(f"  {arm['arm']:<17} {_number(arm['search_estimate']):>11}"
                     f"  {_number(c['mean_diff']):>9} {ci:<24} {c['n']:>3}"
                     f"  {_number(arm['winners_curse_gap'], 3):>6}  {arm['decision'] or '–'}")
    return [*lines, f"  {READING}"]


def report_lines(search: dict[str, Any]) -> list[str]:
    return [*summary_lines(search), *trial_lines(search), *confirmation_lines(search)]


def _watch(client: Any, search_id: int, as_json: bool, every: float) -> None:
    last = None
    try:
        while True:
            search = client.search(search_id)
            shown = json.dumps(search, sort_keys=True, default=str)
            if shown != last:
                last = shown
                if as_json:
                    typer.echo(json.dumps(search, default=str))
                else:
                    for line in summary_lines(search):
                        typer.echo(line)
            if search["status"] in ENDED:
                if not as_json:
                    for line in confirmation_lines(search):
                        typer.echo(line)
                if search["status"] != "done":
                    sys.exit(FAILED)
                return
            time.sleep(every)
    except KeyboardInterrupt:
        typer.echo("initlab: interrupted; the search goes on", err=True)
        sys.exit(INTERRUPTED)


@api_errors
def search(
    target: Annotated[str, typer.Argument(
        metavar="SPEC|ACTION", help="a spec file with `search:`, or status, watch, cancel, report"
    )],
    search_id: Annotated[int | None, typer.Argument(metavar="[ID]", help="the search's id")] = None,
    api: ApiOption = None,
    priority: Annotated[int, typer.Option(min=0, max=8, help="9 runs first")] = 5,
    every: Annotated[float, typer.Option(min=0.2, help="watch: seconds between polls")] = 2.0,
    as_json: JsonOption = False,
) -> None:
    """Calibrate a smart_init schedule: submit a search, or show, watch, cancel, report one."""
    if target not in ACTIONS:
        if search_id is not None:
            fail(f"{target!r} takes no ID; valid actions with an ID: {', '.join(ACTIONS)}", USAGE)
        _submit(target, api, priority, as_json)
        return
    with api_client(api) as client:
        if target == "status" and search_id is None:
            _list(client.searches(), as_json)
            return
        if search_id is None:
            fail(f"search {target} needs the search's ID", USAGE)
        if target == "watch":
            _watch(client, search_id, as_json, every)
            return
        if target == "cancel":
            result = client.cancel_search(search_id)
            lines = [f"search {search_id}: {result['cancelled_runs']} run(s) cancelled, now"
                     f" {result['status']}"]
        else:
            result = client.search(search_id)
            lines = report_lines(result)
    if as_json:
        print_json(result)
        return
    for line in lines:
        typer.echo(line)


def _submit(target: str, api: str | None, priority: int, as_json: bool) -> None:
    body, kind = spec_body(target)
    with api_client(api) as client:
        created = client.submit_search(body, priority=priority, content_type=kind)
    if as_json:
        print_json(created)
        return
    typer.echo(f"search {created['id']}: queued its baseline (experiment"
               f" {created['baseline_experiment_id']}); trials follow")


def _list(page: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(page)
        return
    for item in page["items"] or [{"id": "-", "status": "", "name": "no searches yet"}]:
        typer.echo(f"{item['id']:>6}  {item['status']:<11} {item['name']}")


def register(app: typer.Typer) -> None:
    """Add `initlab search` to the CLI."""
    app.command()(search)


def search_markdown(search: dict[str, Any]) -> str:
    """`initlab report search:ID`'s section: the trials, and the search's estimate beside the
    confirmed one, as Markdown."""
    lines = [f"## Calibration search {search['id']}: {search['name']} ({search['status']})", "",
             *(line.strip() for line in summary_lines(search)[1:]), "",
             "| trial | state | value | share | schedule |", "|---|---|---|---|---|"]
    lines += [f"| {t['number']} | {t['state']} | {_number(t['value'])} |"
              f" {t['preprocess_share']:.3f} | {_params(t['params'])} |" for t in search["trials"]]
    confirmation = search.get("confirmation")
    if confirmation:
        lines += ["", f"Confirmation (experiment {confirmation['experiment_id']}, new seed"
                  f" {confirmation['seed']}): the search's estimate beside the confirmed one;"
                  " the gap is the winner's curse.", "",
                  "| arm | search estimate | confirmed | 95% CI | n | gap | primary |",
                  "|---|---|---|---|---|---|---|"]
        for arm in confirmation["arms"]:
            c = arm["confirmed"]
            lines.append(f"| {arm['arm']} | {_number(arm['search_estimate'])} |"
                         f" {_number(c['mean_diff'])} | [{_number(c['ci95_low'])},"
                         f" {_number(c['ci95_high'])}] | {c['n']} |"
                         f" {_number(arm['winners_curse_gap'], 3)} | {arm['decision'] or '–'} |")
        lines += ["", READING[0].upper() + READING[1:]]
    return "\n".join(lines) + "\n\n"
