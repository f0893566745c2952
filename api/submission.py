"""Turn a request body into validated specs: content type, size, schema, data paths, sweeps."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from core.data import DataError
from core.data.paths import resolve_data_path
from core.methods import plan_for
from core.models.names import ModelError, check_allowed
from core.registry import UnknownNameError
from core.spec import ExperimentSpec, SpecError, parse_spec
from core.sweep import expand_sweep

JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")
PATH_FIELDS = ("root", "test_root", "map_clsloc")
# A spec is a few hundred values. YAML aliases can make a small body stand for a huge tree
# ("billion laughs"), which validation and storage would then walk in full: refuse that early.
MAX_SPEC_VALUES = 50_000


class UnsupportedMediaType(ValueError):
    """A body whose content type is neither JSON nor YAML (HTTP 415)."""


@dataclass(frozen=True)
class Submission:
    """A validated request: the spec as sent and the experiments it stands for."""

    spec: ExperimentSpec
    experiments: list[ExperimentSpec]

    @property
    def is_sweep(self) -> bool:
        return bool(self.spec.sweep)

    @property
    def run_count(self) -> int:
        return sum(len(s.arms) * s.repeats for s in self.experiments)


def _media_type(content_type: str | None) -> str:
    media = (content_type or "application/json").split(";")[0].strip().lower()
    if media not in JSON_TYPES + YAML_TYPES and not media.endswith(("+json", "+yaml")):
        raise UnsupportedMediaType(
            f"content type {media!r} is not supported; valid choices: "
            f"{', '.join(JSON_TYPES + YAML_TYPES)}"
        )
    return media


def _count_values(data: Any, limit: int) -> None:
    """Refuse a document that expands to more than `limit` values (aliases counted each time)."""
    stack, seen = [data], 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > limit:
            raise SpecError(
                [
                    f"body: the spec holds more than {limit} values (repeated YAML aliases?); "
                    f"the limit is {limit}"
                ]
            )
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def load_document(body: bytes, content_type: str | None) -> Any:
    """The JSON or YAML document in a body, chosen by Content-Type (JSON by default)."""
    media = _media_type(content_type)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SpecError([f"body: not UTF-8 text ({error.reason} at byte {error.start})"]) from None
    is_yaml = media in YAML_TYPES or media.endswith("+yaml")
    try:
        data = yaml.safe_load(text) if is_yaml else json.loads(text)
    except RecursionError:
        raise SpecError(["body: nested too deeply to be a spec"]) from None
    except (yaml.YAMLError, ValueError) as error:  # JSONDecodeError is a ValueError
        kind = "YAML/JSON" if is_yaml else "JSON"
        raise SpecError([f"body: not valid {kind}: {str(error)[:500]}"]) from None
    _count_values(data, MAX_SPEC_VALUES)
    return data


def parse_body(body: bytes, content_type: str | None) -> ExperimentSpec:
    """The spec in a JSON or YAML body."""
    return parse_spec(load_document(body, content_type))


def check_runnable(
    spec: ExperimentSpec, data_root: str | None, allowed_modules: Sequence[str] = ()
) -> None:
    """Refuse what validates but cannot run here: paths outside the data root, bad arm plans,
    and `import:` models whose module the operator has not allowed (a spec must never be a way
    to run code on a worker)."""
    errors = []
    try:
        check_allowed(spec.model, list(allowed_modules))
    except ModelError as error:
        errors.append(f"model: {error}")
    for name in PATH_FIELDS:
        value = getattr(spec.dataset, name)
        if value is not None:
            try:
                path = resolve_data_path(data_root, value)
            except DataError as error:
                errors.append(f"dataset.{name}: {error}")
                continue
            # Caught here, not as N runs failing "in phase main, epoch 1" with nothing trained.
            # Workers read the same data root (a shared mount), so what is absent here is there too.
            if not path.exists():
                where = f"under the server's data root {data_root}" if data_root else "here"
                errors.append(f"dataset.{name}: {value!r} does not exist {where}")
    for index, arm in enumerate(spec.arms):
        try:
            plan_for(arm)
        except (UnknownNameError, ValueError) as error:
            message = str(error)
            errors.append(message if message.startswith("arms.") else f"arms.{index}: {message}")
    if errors:
        raise SpecError(errors)


def _check_run_count(submission: Submission, max_runs: int) -> None:
    if submission.run_count > max_runs:
        shape = f"{len(submission.experiments)} experiment(s) × arms × repeats"
        raise SpecError(
            [
                f"spec: asks for {submission.run_count} runs ({shape}); the limit per "
                f"submission is {max_runs} (INITLAB_MAX_RUNS_PER_SUBMISSION)"
            ]
        )


def prepare(
    body: bytes,
    content_type: str | None,
    data_root: str | None,
    max_runs: int,
    allowed_modules: Sequence[str] = (),
) -> Submission:
    """Every experiment a submission stands for, each checked; raises SpecError with all lines."""
    spec = parse_body(body, content_type)
    if spec.search is not None:
        raise SpecError(["search: a spec with a search block is submitted with POST /searches"])
    submission = Submission(spec, expand_sweep(spec))
    _check_run_count(submission, max_runs)
    errors: list[str] = []
    for child in submission.experiments:
        try:
            check_runnable(child, data_root, allowed_modules)
        except SpecError as error:
            errors += [line for line in error.errors if line not in errors]
    if errors:
        raise SpecError(errors)
    return submission
