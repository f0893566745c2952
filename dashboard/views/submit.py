"""Submit: a preset or the demo as editable YAML, checked by the API's dry run, then queued; or
import the results.json of runs made elsewhere, or the paper authors' .npz file of a preset's
runs, as a finished experiment."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from core.paper.presets import PRESETS, preset_summary
from core.spec import SpecError, parse_spec_text
from dashboard.client import ApiError, ApiUnavailable, client_for, get_client
from dashboard.specs import (
    DEMO,
    FieldError,
    annotate,
    cost_rows,
    cost_total,
    field_errors,
    has_sweep,
    preset_names,
    preset_yaml,
    syntax_error,
)
from dashboard.ui import call, show_error
from dashboard.uploads import MAX_UPLOAD_MB, existing_experiment, upload_body

client = get_client()


@st.cache_data(ttl=60, show_spinner=False)
def _api_presets(url: str, token: str | None) -> list[str] | None:
    try:
        return client_for(url, token).presets()
    except (ApiError, ApiUnavailable):
        return None


def _load_preset() -> None:
    st.session_state.spec_yaml = st.session_state.spec_draft = preset_yaml(st.session_state.preset)


def _keep_draft() -> None:
    # Widget state is dropped when the user leaves the page; the draft outlives it.
    st.session_state.spec_draft = st.session_state.spec_yaml


def _submitter(text: str) -> Callable[..., dict[str, Any]]:
    """POST /sweeps for a spec with `sweep:` (one experiment per point), else /experiments."""
    return client.submit_sweep if has_sweep(text) else client.submit


def _validate(text: str) -> dict[str, Any]:
    """The dry run's verdict on `text`, asked once per distinct text."""
    digest = hashlib.sha256(text.encode()).hexdigest()
    cached = st.session_state.get("dry_run")
    if cached and cached["digest"] == digest:
        return dict(cached)
    outcome: dict[str, Any] = {"digest": digest, "errors": [], "result": None, "offline": None}
    local = syntax_error(text)
    if local is not None:
        outcome["errors"] = [local]
    else:
        try:
            outcome["result"] = _submitter(text)(text, dry_run=True)
        except ApiError as error:
            outcome["errors"] = field_errors(text, error.problems or error.lines)
        except ApiUnavailable as error:
            outcome["offline"] = str(error)
            try:
                parse_spec_text(text)
            except SpecError as spec_error:
                outcome["errors"] = field_errors(text, spec_error.errors)
    st.session_state.dry_run = outcome
    return outcome


def _show_errors(text: str, errors: list[FieldError]) -> None:
    st.error(f"The spec has {len(errors)} problem(s):")
    for error in errors:
        where = f"line {error.line} · " if error.line else ""
        st.markdown(f"- {where}`{error.path}`: {error.message}")
    st.code(annotate(text, errors), language="yaml", line_numbers=False)


def _show_plan(text: str, result: dict[str, Any]) -> None:
    runs = pd.DataFrame(result["runs"])[["arm", "repeat", "seed"]]
    experiments = result.get("experiments") or []
    title = f"{len(runs)} run(s) will be queued"
    if has_sweep(text):
        title += f" in {len(experiments)} experiment(s) (a sweep; submitting opens its page)"
    st.success(title)
    for warning in result.get("warnings") or []:  # the primary could never decide as specified
        st.warning(f"The primary comparison can never decide: {warning}")
    spec = parse_spec_text(text)
    rows = cost_rows(spec)
    total = cost_total(rows)
    examples = total["example_epochs"]
    st.markdown(
        f"**Estimated cost** (per experiment): {total['runs']} runs, {total['epochs']} "
        f"training epochs, {total['full_data_epochs']} full-data epoch equivalents"
        + (f", ≈{examples:,} example-epochs" if examples is not None else "")
        + ". Evaluation passes are extra."
    )
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    with st.expander(f"Runs ({len(runs)})"):
        st.dataframe(runs, hide_index=True)


KEPT_PRESET = "import_preset_kept"


def _authors_preset(name: str) -> str | None:
    """For the paper authors' .npz file, the preset its runs followed (the CLI's --preset)."""
    if not name.lower().endswith(".npz"):
        return None
    names = PRESETS.names()
    kept = st.session_state.get(KEPT_PRESET)  # outlives the run without a file while swapping
    choice = st.selectbox(
        "Preset the file's runs followed", names, key="import_preset",
        index=names.index(kept) if kept in names else None,
        placeholder="choose a preset (e.g. table1-16)",
        help="the arms, in the file's order, and the protocol: `initlab import FILE.npz "
             "--preset NAME`")
    st.session_state[KEPT_PRESET] = choice
    return choice


def _import_results() -> None:
    """Upload a results.json or an authors' .npz; show the stored experiment, or why not."""
    upload = st.file_uploader(
        f"results.json or the paper authors' .npz (at most {MAX_UPLOAD_MB} MB)",
        type=["json", "npz"], key="import_file",
        help="what `initlab run --out DIR` writes, or an array file of the authors' results/ "
             "folder; stored as a finished, imported experiment")
    preset = _authors_preset(upload.name) if upload is not None else None
    if upload is None or not st.button("Import", key="import", type="primary"):
        return
    if upload.size > MAX_UPLOAD_MB * 2**20:
        st.error(f"{upload.name} is {upload.size / 2**20:.0f} MB; at most {MAX_UPLOAD_MB} MB.")
        return
    try:
        body = upload_body(upload.name, upload.getvalue(), preset)
        stored = client.import_results(body)
    except ValueError as error:
        st.error(str(error))
        return
    except (ApiError, ApiUnavailable) as error:
        show_error(error, f"import {upload.name}")
        existing = existing_experiment(error.lines) if isinstance(error, ApiError) else None
        if existing is not None:
            st.page_link("views/experiment.py", label=f"Open experiment #{existing}",
                         icon=":material/monitoring:", query_params={"experiment": str(existing)})
        return
    st.success(f"Imported as experiment #{stored['id']} {stored['name']}: {stored['runs']} runs, "
               f"{stored['metric_rows']} metric rows.")
    st.page_link("views/experiment.py", label=f"Open experiment #{stored['id']}",
                 icon=":material/monitoring:", query_params={"experiment": str(stored["id"])})


st.title("Submit an experiment")
st.caption("Start from a preset or the digits demo, edit the YAML; the API checks each edit "
           "with a dry run. Fields are documented in core/spec.py.")
if "spec_yaml" not in st.session_state:
    st.session_state.spec_yaml = st.session_state.get("spec_draft") or preset_yaml(DEMO)
from_api = _api_presets(client.config.url, client.config.token)
pick, load = st.columns([4, 1], vertical_alignment="bottom")
preset = pick.selectbox("Preset", preset_names(from_api), key="preset")
load.button("Load preset", on_click=_load_preset, width="stretch", key="load_preset")
st.caption(preset_summary(preset))

editor, verdict = st.columns([1, 1])
text = editor.text_area("Spec (YAML)", key="spec_yaml", height=560, on_change=_keep_draft)
priority = editor.slider("Priority (9 runs first)", 0, 9, 5)
outcome = _validate(text)
with verdict:
    if outcome["offline"]:
        st.warning(f"Validated locally only: {outcome['offline']}. Submitting needs the API.")
    if outcome["errors"]:
        _show_errors(text, outcome["errors"])
    elif outcome["result"] is not None:
        _show_plan(text, outcome["result"])

ready = outcome["result"] is not None and not outcome["errors"]
if editor.button("Submit", type="primary", disabled=not ready, key="submit"):
    submitted = call("submit the experiment", _submitter(text), text, priority=priority)
    if submitted is not None:
        st.session_state.pop("dry_run", None)
        if submitted.get("sweep_id"):
            st.switch_page("views/sweep.py", query_params={"sweep": submitted["sweep_id"]})
        st.switch_page("views/experiment.py", query_params={"experiment": str(submitted["id"])})

with st.expander("Import finished runs (results.json) or the paper authors' .npz",
                 expanded=False):
    _import_results()
