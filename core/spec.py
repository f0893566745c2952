"""The one experiment spec, shared by the CLI, the API, the worker and the dashboard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from core.models.names import check_model_name
from core.search_spec import SearchSpec

# Names of the registered parts (the models' in core.models.names, which checks model names).
# tests/core/test_registries.py checks these against the registries themselves, so a name here
# always builds and a registered part is always valid.
DatasetName = Literal[
    "downsampled_imagenet", "imagenetv2", "cifar10", "cifar100", "digits", "synthetic",
    "mnist", "fashion_mnist", "kmnist", "image_folder", "npz",
]
MethodName = Literal["original", "smart_init", "repeat", "warm_start", "shrink_perturb"]
Split = Literal["sample", "train", "val", "test"]
InitName = Literal[
    "pytorch", "kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform",
    "orthogonal", "lsuv",
]

# Hard limits that keep one request from asking for an unbounded amount of work.
MAX_REPEATS = 1000
MAX_EPOCHS = 10_000
MAX_ARMS = 20
MAX_CHECKPOINT_SECONDS = 86_400  # execution.checkpoint_every: at least one a day
MAX_STAGES = 50
MAX_SWEEP_EXPERIMENTS = 200


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetSpec(_Strict):
    """Which data the experiment trains and tests on."""

    name: DatasetName = Field(description="registered data set")
    root: str | None = Field(None, description="folder of the data set, inside the data root")
    image_size: int | None = Field(
        None, ge=8, le=256, description="side in pixels; 16/32/64 for downsampled_imagenet"
    )
    test: Literal["imagenetv2"] | None = Field(None, description="extra test set replacing 'test'")
    test_root: str | None = Field(None, description="folder of the extra test set")
    test_resample: Literal["lanczos", "box"] = Field(
        "lanczos",
        description="filter that resizes the extra test set's images to image_size: lanczos as"
        " the paper's code did, or box (how Downsampled ImageNet itself was made)",
    )
    map_clsloc: str | None = Field(None, description="path of the ILSVRC map_clsloc.txt")
    normalize: Literal["standard", "none"] = Field(
        "standard", description="'none' feeds raw 0..255 pixels, as the paper's code did"
    )
    val_fraction: float = Field(0.1, gt=0, lt=1, description="held-out share where no val set")
    train_size: int | None = Field(
        None,
        ge=2,
        validation_alias=AliasChoices("train_size", "limit_train"),  # limit_train: older name
        description="seeded uniform subset of this many training images; val and test stay whole",
    )
    num_classes: int = Field(10, ge=2, le=1000, description="classes (synthetic only)")
    num_train: int = Field(512, ge=4, le=1_000_000, description="training images (synthetic)")

    @model_validator(mode="after")
    def _check_image_size(self) -> DatasetSpec:
        if self.name == "downsampled_imagenet" and self.image_size not in (16, 32, 64):
            raise ValueError(
                f"dataset.image_size: {self.image_size!r} is not valid for downsampled_imagenet;"
                " valid choices: 16, 32, 64"
            )
        return self


class TrainingSpec(_Strict):
    """The main phase's hyper-parameters, and the default for every stage."""

    optimizer: Literal["adamw", "sgd"] = "adamw"
    lr: float = Field(0.001, gt=0, le=10, description="initial learning rate")
    weight_decay: float = Field(0.01, ge=0, le=1, description="PyTorch AdamW default 0.01")
    batch_size: int = Field(64, ge=2, le=65_536)
    epochs: int = Field(50, ge=1, le=MAX_EPOCHS, description="main-phase epochs")
    lr_decay: float = Field(0.925, gt=0, le=1, description="ExponentialLR gamma, once an epoch")
    augment: Literal["none", "crop_flip"] = Field(
        "none", description="crop_flip: random crop with padding 4 and horizontal flip"
    )
    eval_batch_size: int = Field(1024, ge=2, le=65_536)
    precision: Literal["fp32", "tf32", "bf16"] = Field(
        "tf32",
        description="arithmetic: fp32; tf32 (fp32 storage, TF32 matmuls/convs on Ampere+ GPUs,"
        " identical to fp32 on CPU); bf16 (bfloat16 autocast). The paper presets use fp32",
    )
    deterministic: bool = Field(
        False,
        description="reproducible CUDA runs: deterministic algorithms, no cuDNN autotuning"
        " (slower); CPU runs are reproducible either way",
    )
    train_metrics: Literal["running", "eval"] = Field(
        "running",
        description="'running': train/sample metrics averaged during the epoch (free);"
        " 'eval': a separate pass in eval mode",
    )


class ExecutionSpec(_Strict):
    """How runs are executed; never what they compute, so it is not part of a run's identity."""

    batch_repeats: Literal["auto"] | int = Field(
        "auto",
        description="repeats of one arm trained in lockstep as one stacked model; 'auto': 1 on"
        " a CPU, the fastest R a short probe measures on a GPU (cached per device and model)",
    )

    device: Literal["cuda", "cpu", "any"] = Field(
        "any",
        description="which workers may take the runs: cuda (GPU workers only), cpu (CPU workers"
        " only) or any; each class has a queue of its own",
    )

    checkpoint_every: Literal["epoch"] | float = Field(
        "epoch",
        description="how often a run checkpoints: 'epoch' (every epoch) or a number of seconds,"
        " at the first epoch end that many seconds after the last checkpoint (a phase's last"
        " epoch always checkpoints). Rows are committed with the checkpoint that holds them, so"
        " between checkpoints the database lags and a crash retrains those epochs",
    )

    @field_validator("batch_repeats", mode="before")
    @classmethod
    def _check_batch_repeats(cls, value: object) -> object:
        # One clear line instead of one error per member of the union.
        if value == "auto" or (
            isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_REPEATS
        ):
            return value
        raise ValueError(
            f"{value!r} is not valid; valid choices: 'auto' or an integer 1..{MAX_REPEATS}"
        )

    @field_validator("checkpoint_every", mode="before")
    @classmethod
    def _check_checkpoint_every(cls, value: object) -> object:
        if value == "epoch" or (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and 0 < value <= MAX_CHECKPOINT_SECONDS
        ):
            return value
        raise ValueError(
            f"{value!r} is not valid; valid choices: 'epoch' or a number of seconds in "
            f"(0, {MAX_CHECKPOINT_SECONDS}]"
        )


class StageSpec(_Strict):
    """Train on a fresh uniform sample of `fraction` of the data for `epochs` epochs."""

    fraction: float = Field(gt=0, le=1, description="share of the training set, (0, 1]")
    epochs: int = Field(ge=1, le=MAX_EPOCHS)
    lr: float | None = Field(None, gt=0, le=10, description="overrides training.lr")
    batch_size: int | None = Field(None, ge=2, le=65_536, description="overrides batch_size")
    lr_decay: float | None = Field(None, gt=0, le=1, description="overrides lr_decay")


class ArmSpec(_Strict):
    """One initialisation method under comparison."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    method: MethodName
    stages: list[StageSpec] | None = Field(
        None, max_length=MAX_STAGES, description="pre-training stages; method default if absent"
    )
    preprocess_epochs: int = Field(
        0,
        ge=0,
        le=MAX_EPOCHS,
        description="original: full-data epochs trained before the main phase (phase"
        " 'preprocess'), as the paper's code does, so both arms get preprocessing",
    )
    times: int | None = Field(None, ge=1, le=MAX_STAGES, description="repeat: stage count")
    shrink: float = Field(0.4, ge=0, le=1, description="shrink_perturb: weight factor")
    perturb: float = Field(0.1, ge=0, le=1, description="shrink_perturb: fresh-init factor")
    init: InitName = Field(
        "pytorch", description="init scheme applied to the initial network before any stage"
    )
    reset: bool = Field(
        True,
        description="a fresh optimiser and learning-rate schedule at each stage and at the main"
        " phase (the paper's advice); false: each phase after the first stage carries on the"
        " previous one's optimiser state and schedule (its own lr and lr_decay then unused)",
    )


class PrimarySpec(_Strict):
    """The one comparison declared before the runs; reports lead with it, the rest is secondary."""

    split: Literal["val", "test", "train"] = Field("val", description="split of the figure")
    metric: Literal["loss", "accuracy"] = Field("loss", description="loss, or accuracy in %")
    rule: Literal["val_loss", "final", "paper"] = Field(
        "val_loss", description="selection rule that picks each run's epoch"
    )
    sequence: Literal["t_mixture", "betting"] | None = Field(
        None,
        description="confidence sequence: t_mixture (assumes normal differences) or betting"
        " (bounded differences, no normality); default betting for accuracy, t_mixture for loss",
    )


class ExperimentSpec(_Strict):
    """A paired, repeated comparison of initialisation methods."""

    name: str = Field(min_length=1, max_length=200)
    model: str = Field(
        description="registered model, torchvision:<name> or import:<module>:<factory>"
    )
    dataset: DatasetSpec
    training: TrainingSpec = TrainingSpec()
    arms: list[ArmSpec] = Field(min_length=1, max_length=MAX_ARMS)
    baseline: str | None = Field(None, description="arm the paired statistics compare against")
    repeats: int = Field(4, ge=1, le=MAX_REPEATS)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    stage_splits: list[Split] = Field(
        ["sample", "val", "test"], description="splits measured in pre-training stages"
    )
    execution: ExecutionSpec = ExecutionSpec()
    primary: PrimarySpec = Field(
        PrimarySpec(), description="pre-declared comparison (default: val loss under val_loss)"
    )
    alpha: float = Field(
        0.05, gt=0, lt=0.5, description="error rate of the primary's confidence sequence"
    )
    stop_when_decided: bool | Literal["arm"] = Field(
        False,
        description="true: cancel the queued runs once every compared arm's primary sequence has"
        " decided; 'arm': stop queuing each arm once it alone has decided",
    )
    min_repeats: int = Field(
        4, ge=2, le=MAX_REPEATS, description="completed pairs needed before stopping early"
    )
    sweep: dict[str, list[Any]] | None = Field(
        None, description="dotted field path -> values; expands into a group of experiments"
    )
    search: SearchSpec | None = Field(
        None, description="calibrate one smart_init arm's schedule (POST /searches)"
    )

    @field_validator("model")
    @classmethod
    def _known_model(cls, model: str) -> str:
        check_model_name(model)
        return model

    @field_validator("stop_when_decided", mode="before")
    @classmethod
    def _check_stop_mode(cls, value: object) -> object:
        lax = ("true", "false", "yes", "no", "on", "off", "1", "0")  # what pydantic reads as bool
        if value in (True, False, "arm") or (isinstance(value, str) and value.lower() in lax):
            return value
        raise ValueError(f"{value!r} is not a stop mode; valid choices: true, false, arm")

    @field_validator("arms")
    @classmethod
    def _unique_arm_names(cls, arms: list[ArmSpec]) -> list[ArmSpec]:
        names = [a.name for a in arms]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate arm names: {', '.join(duplicates)}")
        return arms

    @model_validator(mode="after")
    def _check_baseline(self) -> ExperimentSpec:
        names = [a.name for a in self.arms]
        if self.baseline is None:
            self.baseline = names[0]
        elif self.baseline not in names:
            raise ValueError(
                f"baseline: {self.baseline!r} names no arm; valid choices: {', '.join(names)}"
            )
        return self

    @model_validator(mode="after")
    def _check_search(self) -> ExperimentSpec:
        if self.search is None:
            return self
        names = [a.name for a in self.arms]
        if self.sweep:
            raise ValueError("search: a spec takes a sweep or a search, not both")
        if self.search.arm not in names:
            raise ValueError(
                f"search.arm: {self.search.arm!r} names no arm; valid choices: {', '.join(names)}"
            )
        if self.search.arm == self.baseline:
            raise ValueError(f"search.arm: {self.search.arm!r} is the baseline; search another arm")
        if self.arm(self.search.arm).method != "smart_init":
            choices = ", ".join(a.name for a in self.arms if a.method == "smart_init") or "none"
            raise ValueError(
                f"search.arm: {self.search.arm!r} is method {self.arm(self.search.arm).method!r};"
                f" only smart_init schedules are searched; valid choices: {choices}"
            )
        return self

    def arm(self, name: str) -> ArmSpec:
        """The arm called `name`."""
        for arm in self.arms:
            if arm.name == name:
                return arm
        raise KeyError(f"no arm {name!r}; arms: {', '.join(a.name for a in self.arms)}")

    def identity_json(self) -> str:
        """The spec as runs see it: everything but `execution`, which changes speed only."""
        return self.model_dump_json(exclude={"execution"})

    def run_keys(self) -> list[tuple[str, int]]:
        """Every (arm, repeat) this experiment runs, repeat-major so pairs finish together."""
        return [(arm.name, r) for r in range(self.repeats) for arm in self.arms]


class SpecError(ValueError):
    """An invalid spec; `errors` holds one line per bad field."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def format_validation_error(error: ValidationError) -> list[str]:
    """One line per error: the field's dotted path, what is wrong, and the bad value."""
    lines = []
    for item in error.errors():
        loc = ".".join(str(part) for part in item["loc"]) or "spec"
        message = str(item["msg"]).removeprefix("Value error, ")
        if "input" in item and item["type"] not in ("value_error", "missing"):
            message += f" (got {item['input']!r})"
        lines.append(f"{loc}: {message}")
    return lines


def parse_spec(data: dict[str, Any]) -> ExperimentSpec:
    """Validate a mapping into an ExperimentSpec or raise SpecError naming each bad field."""
    if not isinstance(data, dict):
        raise SpecError([f"spec: expected a mapping, got {type(data).__name__}"])
    try:
        return ExperimentSpec.model_validate(data)
    except ValidationError as error:
        raise SpecError(format_validation_error(error)) from None


def parse_spec_text(text: str) -> ExperimentSpec:
    """Parse YAML or JSON text (JSON is YAML) into a validated spec."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise SpecError([f"spec: not valid YAML/JSON: {error}"]) from None
    return parse_spec(data)


def load_spec(path: str | Path) -> ExperimentSpec:
    """Read a spec from a .yaml/.yml/.json file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise SpecError([f"spec: cannot read {path}: {error.strerror}"]) from None
    return parse_spec_text(text)


def spec_to_json(spec: ExperimentSpec) -> dict[str, Any]:
    """The spec as plain JSON data, round-trippable through parse_spec."""
    return json.loads(spec.model_dump_json(exclude_none=True))
