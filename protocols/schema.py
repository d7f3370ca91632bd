"""The protocol schema: pydantic models of the data and its per-field constraints, nothing more.

Names (models, corruptions, data sets, metrics) and everything that needs the toolkit or the data
set are checked in tacfn_robust.protocols.checks. Every field declares what a change of it affects
(`Affects`, below); the cell key, the conditions hash and the protocol hash are derived from those
declarations (`declared_dump`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import PurePath
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PositiveInt,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tacfn.core.errors import excerpt, suggest

DATASETS_NEEDING_PATH = ("ravdess", "mult_pickle", "npz")
PICKLED_DATASETS = ("mult_pickle",)
SEED_LIMIT = 2**32  # seeds feed numpy and torch generators
MAX_CONDITIONS = 1500  # test conditions of a cell; the cost per condition: docs/protocols.md
# torch threads of a cell and parallel cells: beyond any one machine's cores (the OpenMP runtime
# aborts the process at about 100,000 threads; a Dask LocalCluster starts every worker at once)
THREADS_LIMIT = 1024
WORKERS_LIMIT = 1024

Effect = Literal["training", "predictions", "protocol", "report", "nothing"]


@dataclass(frozen=True)
class Affects:
    """What a change of a field affects, declared on the field (`Annotated[type, TRAINING]`).

    training     the trained models: the cell key (and the protocol hash) changes, cells train
                 again
    predictions  what a trained model predicts under the test conditions: the conditions hash
                 (and the protocol hash) changes, stored models are evaluated again
    protocol     neither: only the protocol hash changes (stored cells are reused; a baseline
                 saved under another value is refused)
    report       only what the report says of the same predictions: no hash changes (a
                 saved baseline still applies)
    nothing      how or where the protocol runs, or its prose: no hash changes

    `axis` names a grid axis (a field of tacfn_robust.protocols.grid.TrainCell): each train cell
    takes one entry of the field, and its key holds that entry only.
    """

    effect: Effect
    axis: str | None = None

    def __get_pydantic_json_schema__(self, core: Any, handler: Any) -> dict[str, Any]:
        """The field's JSON Schema with its declaration (`protocols schema` shows it)."""
        schema = dict(handler(core))
        schema["affects"] = self.effect
        return schema


TRAINING = Affects("training")
PREDICTIONS = Affects("predictions")
PROTOCOL = Affects("protocol")
REPORT = Affects("report")
NOTHING = Affects("nothing")


def nonfinite(data: Any, path: str = "") -> tuple[str, float] | None:
    """(YAML path, value) of the first NaN or infinite number anywhere in `data`, else None."""
    if isinstance(data, float) and not math.isfinite(data):
        return path, data
    items: Any = ()
    if isinstance(data, dict):
        items = ((f"{path}.{k}" if path else str(k), v) for k, v in data.items())
    elif isinstance(data, list | tuple):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(data))
    for where, value in items:
        found = nonfinite(value, where)
        if found is not None:
            return found
    return None


def repeated(values: list[Any]) -> Any:
    """The first value that occurs twice in `values`, else None."""
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            return value
        seen.add(value)
    return None


class Strict(BaseModel):
    """Base of every protocol section: unknown keys are errors; types are strict (no `true`
    for an integer, no "5" for a number). Every field declares an `Affects`, except a field
    that holds a section."""

    model_config = ConfigDict(extra="forbid", validate_default=True, strict=True)


class CorruptionParams(BaseModel):
    """A corruption by name and modality; extra keys are the corruption's own parameters."""

    model_config = ConfigDict(extra="allow", strict=True)

    corruption: str
    modality: str

    @property
    def params(self) -> dict[str, Any]:
        """The corruption's own parameters (everything but corruption and modality)."""
        return dict(self.model_extra or {})


class TrainCorruption(CorruptionParams):
    """One train-time corruption of a regime, as TrainRegime accepts it (p, severity range, ...)."""

    def as_spec(self) -> dict[str, Any]:
        return {"corruption": self.corruption, "modality": self.modality, **self.params}


class Sweep(BaseModel):
    """One test-time axis: a corruption swept over parameter values or severity levels.

    `kind: subsets` instead evaluates every non-empty subset of the data set's modalities.
    Extra keys are the corruption's fixed parameters.
    """

    model_config = ConfigDict(extra="allow", validate_default=True, strict=True)

    kind: Literal["corruption", "subsets"] = "corruption"
    corruption: str | None = None
    modality: str | None = None
    param: str | None = None
    values: list[float] | None = None
    levels: list[int] | None = None
    fill: str | None = None
    stage: Literal["input", "feature"] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Sweep:
        if self.kind == "subsets":
            if self.corruption or self.values or self.levels or self.model_extra:
                raise ValueError(
                    "a subsets sweep takes only fill and stage; expected {kind: subsets, "
                    "fill: zeros, stage: input}"
                )
            return self
        if not self.corruption or not self.modality:
            raise ValueError("a sweep needs corruption and modality")
        if (self.values is None) == (self.levels is None):
            raise ValueError("a sweep needs exactly one of values or levels")
        points = self.values if self.values is not None else self.levels
        if not points:
            raise ValueError("a sweep needs at least one value")
        if self.levels is not None and any(not 0 <= lv <= 5 for lv in self.levels):
            raise ValueError(f"levels {excerpt(self.levels)} out of range; expected integers 0..5")
        if self.values is not None and any(not math.isfinite(v) for v in self.values):
            raise ValueError(f"values {excerpt(self.values)} must be finite numbers")
        if self.values is not None:
            self.values = [v + 0.0 for v in self.values]  # -0.0 is the point 0.0
        again = repeated(points)
        if again is not None:
            which = "values" if self.values is not None else "levels"
            raise ValueError(
                f"{which} {excerpt(points)} repeat {again!r}; expected each point once"
            )
        return self

    @property
    def params(self) -> dict[str, Any]:
        """Fixed corruption parameters of the sweep (extra keys)."""
        return dict(self.model_extra or {})


class JointSweep(BaseModel):
    """A product grid of two sweeps, e.g. audio SNR x video occlusion."""

    model_config = ConfigDict(extra="forbid", validate_default=True, strict=True)

    joint: list[Sweep] = Field(min_length=2, max_length=2)

    @model_validator(mode="after")
    def _two_corruption_sweeps(self) -> JointSweep:
        if any(s.kind != "corruption" for s in self.joint):
            raise ValueError("a joint sweep combines two corruption sweeps, not subsets")
        first, second = self.joint
        if (first.corruption, first.modality) == (second.corruption, second.modality):
            raise ValueError(
                f"joint sweeps {first.corruption}[{first.modality}] with itself; expected two "
                "different axes (another corruption or modality), or one sweep"
            )
        return self


def declared_points(sweep: Sweep | JointSweep) -> int:
    """Test conditions a sweep declares: its values or levels, a joint sweep the product of its
    two (a subsets sweep's count follows from the data set's modalities: none here)."""
    if isinstance(sweep, JointSweep):
        return math.prod(declared_points(s) for s in sweep.joint)
    return len(sweep.values if sweep.values is not None else sweep.levels or [])


def _sweep_kind(data: Any) -> str:
    """The tag of a sweep entry: JointSweep when it has `joint`, else Sweep."""
    joint = isinstance(data, JointSweep) or (isinstance(data, dict) and "joint" in data)
    return "JointSweep" if joint else "Sweep"


# a test sweep: errors of an entry name the one kind it is (not both members of the union)
AnySweep = Annotated[
    Annotated[Sweep, Tag("Sweep")] | Annotated[JointSweep, Tag("JointSweep")],
    Discriminator(_sweep_kind),
]


def sweep_parts(sweeps: list[Sweep | JointSweep]) -> list[tuple[str, Sweep]]:
    """(YAML path, sweep) of every one-dimensional sweep, the parts of joint sweeps included."""
    found = []
    for i, sweep in enumerate(sweeps):
        if isinstance(sweep, JointSweep):
            found += [(f"test.sweeps[{i}].joint[{j}]", s) for j, s in enumerate(sweep.joint)]
        else:
            found.append((f"test.sweeps[{i}]", sweep))
    return found


class DatasetSpec(Strict):
    """Which data set and how to build it; set fields are passed to build_dataset."""

    name: Annotated[str, TRAINING] = "synthetic"
    path: Annotated[str | None, TRAINING] = None
    folds: Annotated[PositiveInt | None, TRAINING] = None
    actors: Annotated[PositiveInt | None, TRAINING] = None
    seed: Annotated[int | None, TRAINING] = None
    frames: Annotated[PositiveInt | None, TRAINING] = None
    size: Annotated[PositiveInt | None, TRAINING] = None
    duration: Annotated[float | None, TRAINING] = None
    sample_rate: Annotated[PositiveInt | None, TRAINING] = None
    options: Annotated[dict[str, Any], TRAINING] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _path_when_needed(self) -> DatasetSpec:
        for key, value in self.options.items():
            field = getattr(self, key) if key in type(self).model_fields else None
            if field is not None and field != value:
                raise ValueError(
                    f"options.{key}: {excerpt(value)} disagrees with {key}: {excerpt(field)}; "
                    f"expected the setting once, as dataset.{key}"
                )
        if self.name in DATASETS_NEEDING_PATH and not self.path:
            raise ValueError(
                f"data set {self.name!r} needs path; expected the folder or file that holds it "
                "(e.g. --set dataset.path=/data/RAVDESS)"
            )
        if self.name in PICKLED_DATASETS and self.options.get("trust_pickle") is not True:
            raise ValueError(
                f"dataset.options.trust_pickle: data set {self.name!r} is a pickle, and loading "
                "it runs code stored in the file; expected trust_pickle: true under "
                "dataset.options for a file you trust"
            )
        return self

    def build_params(self) -> dict[str, Any]:
        """Keyword arguments for build_dataset (fields that were set, plus options)."""
        fields = self.model_dump(exclude={"name", "folds", "options"}, exclude_none=True)
        return {**fields, **self.options}


class TrainSpec(Strict):
    """Training settings shared by every train cell, and the train-time corruption regimes.

    The settings' values are checked once, by the trainer's TrainConfig
    (tacfn_robust.protocols.checks builds it); here they have their types and defaults.
    """

    epochs: Annotated[int, TRAINING] = 10
    batch_size: Annotated[int, TRAINING] = 32
    lr: Annotated[float, TRAINING] = 1e-3
    optimizer: Annotated[str, TRAINING] = "adam"
    weight_decay: Annotated[float, TRAINING] = 0.0
    schedule: Annotated[str, TRAINING] = "none"
    plateau_patience: Annotated[int, TRAINING] = 20
    grad_clip: Annotated[float | None, TRAINING] = None
    select: Annotated[str, TRAINING] = "val_loss"
    pretrain_epochs: Annotated[int, TRAINING] = 0
    amp: Annotated[bool, TRAINING] = False
    legacy_test_eval: Annotated[bool, TRAINING] = False
    regimes: Annotated[dict[str, list[TrainCorruption]], Affects("training", axis="regime")] = (
        Field(default_factory=lambda: {"clean": []})
    )

    @field_validator("regimes")
    @classmethod
    def _regime_names(cls, regimes: dict[str, list[TrainCorruption]]) -> dict:
        if not regimes:
            raise ValueError("no regimes; expected at least one, e.g. {clean: []}")
        for name in regimes:
            if not name.replace("_", "").isalnum():
                raise ValueError(f"regime name {name!r}; expected letters, digits and _")
        return regimes

    def settings(self) -> dict[str, Any]:
        """The trainer's settings: every field but the regimes."""
        return self.model_dump(exclude={"regimes"})


class TestSpec(Strict):
    """Test-time settings: batch size, corruption seed and the sweeps that define the conditions.

    `seed` keys every test-time corruption, (seed, condition, sample id); it is the same for
    every train cell, so models and training seeds are compared on identical corruptions.
    A sample's outputs do not depend on its batch, so `batch_size` changes no prediction.
    """

    __test__ = False  # not a pytest test class

    batch_size: Annotated[PositiveInt, PROTOCOL] = 64
    seed: Annotated[int, PREDICTIONS] = 0
    sweeps: Annotated[list[AnySweep], PREDICTIONS] = Field(default_factory=list)

    @field_validator("sweeps")
    @classmethod
    def _bounded(cls, sweeps: list[Sweep | JointSweep]) -> list[Sweep | JointSweep]:
        count = 1 + sum(declared_points(s) for s in sweeps)
        if count > MAX_CONDITIONS:
            raise ValueError(
                f"{count} test conditions (clean and every sweep point, a joint sweep the "
                f"product of its two); expected at most {MAX_CONDITIONS} per cell (split the "
                "sweep over several protocols)"
            )
        return sweeps


class ReportSpec(Strict):
    """What the report compares: metric, reference model (for CE), focus model, CI level.

    Unset reference / focus default to concat / tacfn when the protocol has them, else to the first
    model. `metric` (a name the tacfn_robust.reports.scoring.metrics.METRICS registry resolves)
    drives curves, contrasts and checks. `contrasts`: the kinds of question the report answers
    (model: the focus against each fusion model; regime: each regime against the first; interaction:
    focus − reference across regimes); unset, the grid decides
    (tacfn_robust.reports.statistics.contrasts.default_kinds). `margin`: the equivalence margin of
    every verdict. Both change the report only (no hash changes).
    """

    metric: Annotated[str, PROTOCOL] = "accuracy"
    reference: Annotated[str | None, PROTOCOL] = None
    focus: Annotated[str | None, PROTOCOL] = None
    ci: Annotated[float, PROTOCOL] = Field(0.95, gt=0, lt=1)
    contrasts: Annotated[list[Literal["model", "regime", "interaction"]] | None, REPORT] = None
    margin: Annotated[float, REPORT] = Field(0.03, gt=0, lt=1)


class ModelEntry(BaseModel):
    """A model built with options under its own name, e.g. {name: tacfn_gain_size, model:
    tacfn, options: {gain: size}} or {name: mine, model: "my_pkg.fusion:MyFusion"}; reports
    show `name`."""

    model_config = ConfigDict(extra="forbid", validate_default=True, strict=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    model: str
    options: dict[str, Any] = Field(default_factory=dict)


class ExecutorSpec(Strict):
    """Where train cells run: in this process / a local pool (local) or on a Dask cluster.

    `threads` is the torch thread count of every cell, whatever the executor, so that
    sequential, pool and Dask runs give bit-identical results. `workers: auto` uses as many
    workers as the machine's cores allow at `threads` each (never more than pending cells).
    """

    kind: Annotated[Literal["local", "dask"], NOTHING] = "local"
    workers: Annotated[PositiveInt | Literal["auto"], NOTHING] = "auto"
    address: Annotated[str | None, NOTHING] = None
    threads: Annotated[PositiveInt, NOTHING] = 1

    @field_validator("workers", "threads")
    @classmethod
    def _within_limit(cls, count: int | str, info: ValidationInfo) -> int | str:
        limit = THREADS_LIMIT if info.field_name == "threads" else WORKERS_LIMIT
        if isinstance(count, int) and count > limit:
            raise ValueError(f"{count} is more than any machine's cores; expected at most {limit}")
        return count


class Protocol(Strict):
    """A validated protocol with defaults filled."""

    name: Annotated[str, PROTOCOL]
    description: Annotated[str, NOTHING] = ""
    dataset: DatasetSpec = Field(default_factory=DatasetSpec)
    preset: Annotated[str, TRAINING] = "cpu"
    models: Annotated[list[str | ModelEntry], Affects("training", axis="model")] = Field(
        min_length=1
    )
    train: TrainSpec = Field(default_factory=TrainSpec)
    test: TestSpec = Field(default_factory=TestSpec)
    seeds: Annotated[list[int], Affects("training", axis="seed")] = Field(
        default_factory=lambda: [0], min_length=1, max_length=10_000
    )
    folds: Annotated[list[int] | None, Affects("training", axis="fold")] = None
    report: ReportSpec = Field(default_factory=ReportSpec)
    output: Annotated[str | None, NOTHING] = None
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec)
    device: Annotated[Literal["auto", "cpu", "cuda"], NOTHING] = "auto"
    # Lets the names above be "module:attr" targets that the run imports (code the file
    # names; tacfn_robust.protocols.checks.check_trust). Changes nothing computed.
    trust_code: Annotated[bool, NOTHING] = False

    @model_validator(mode="before")
    @classmethod
    def _finite_numbers(cls, data: Any) -> Any:
        found = nonfinite(data)
        if found is not None:
            raise ValueError(
                f"{found[0]}: {found[1]!r} is not a finite number; expected a finite number "
                "(no .inf, .nan or a number as large as 1e400)"
            )
        return data

    @model_validator(mode="before")
    @classmethod
    def _no_metrics_field(cls, data: Any) -> Any:
        if isinstance(data, dict) and "metrics" in data:
            raise ValueError(
                f"metrics: {excerpt(data['metrics'])}; this field was replaced by report.metric, "
                "expected e.g. report: {metric: accuracy}"
            )
        return data

    @field_validator("models")
    @classmethod
    def _distinct_model_names(cls, models: list[str | ModelEntry]) -> list[str | ModelEntry]:
        names = [m if isinstance(m, str) else m.name for m in models]
        if len(set(names)) != len(names):
            raise ValueError(
                f"models {excerpt(names)} repeat a name; expected each model name once"
            )
        return models

    @property
    def model_entries(self) -> dict[str, ModelEntry]:
        """Model name -> entry (a plain name is a model without options)."""
        entries = [ModelEntry(name=m, model=m) if isinstance(m, str) else m for m in self.models]
        return {e.name: e for e in entries}

    @property
    def model_names(self) -> list[str]:
        return list(self.model_entries)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, name: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}", name):
            raise ValueError(
                f"name {excerpt(name)} is not a safe directory name; expected 1-100 letters, "
                "digits, _, - or . (not first), e.g. missing_audio"
            )
        return name

    @field_validator("output")
    @classmethod
    def _output_inside(cls, output: str | None) -> str | None:
        parts = PurePath(output).parts if output is not None else ()
        if output is not None and (not parts or PurePath(output).is_absolute() or ".." in parts):
            raise ValueError(
                f"{excerpt(output)} leaves the working directory; expected a relative "
                "folder without '..' (e.g. runs/mine), or --out on the command line"
            )
        return output

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: list[int]) -> list[int]:
        bad = [s for s in seeds if not 0 <= s < SEED_LIMIT]
        if bad:
            raise ValueError(f"seeds: {excerpt(bad[0])} out of range; expected 0 <= seed < 2**32")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds {excerpt(seeds)} repeat a value; expected distinct seeds")
        return seeds

    @field_validator("folds")
    @classmethod
    def _fold_indices(cls, folds: list[int] | None) -> list[int] | None:
        if folds is not None and (not folds or any(f < 0 for f in folds)):
            raise ValueError(
                f"folds {excerpt(folds)}; expected a non-empty list of fold indices >= 0"
            )
        if folds is not None and repeated(folds) is not None:
            raise ValueError(
                f"folds {excerpt(folds)} repeat fold {repeated(folds)}; expected each fold once"
            )
        return folds

    @model_validator(mode="after")
    def _cross_fields(self) -> Protocol:
        if self.dataset.folds is not None and self.folds is not None:
            bad = [f for f in self.folds if f >= self.dataset.folds]
            if bad:
                raise ValueError(
                    f"folds {excerpt(bad)} out of range; expected indices below dataset.folds="
                    f"{self.dataset.folds}"
                )
        names = self.model_names
        for field, default in (("reference", "concat"), ("focus", "tacfn")):
            name = getattr(self.report, field)
            if name is None:
                setattr(self.report, field, default if default in names else names[0])
                continue
            if name not in names:
                raise ValueError(
                    f"report.{field} {name!r} is not among models; expected one of: "
                    f"{', '.join(names)}{suggest(name, names)}"
                )
        return self


def declared(section: type[BaseModel]) -> dict[str, Affects | type[Strict]]:
    """Field name -> its declared Affects, or the section model it holds; a TypeError names a
    field that declares neither."""
    found: dict[str, Affects | type[Strict]] = {}
    for name, info in section.model_fields.items():
        marks = [m for m in info.metadata if isinstance(m, Affects)]
        if marks:
            found[name] = marks[0]
        elif isinstance(info.annotation, type) and issubclass(info.annotation, Strict):
            found[name] = info.annotation
        else:
            raise TypeError(
                f"{section.__name__}.{name} declares no effect; expected e.g. "
                f"Annotated[..., TRAINING] (tacfn_robust.protocols.schema.Affects)"
            )
    return found


def _include(section: type[BaseModel], effects: set[str], axes: bool) -> dict[str, Any]:
    """pydantic `include` of the fields declared with one of `effects` (grid axes only when
    `axes`), through nested sections."""
    include: dict[str, Any] = {}
    for name, mark in declared(section).items():
        if isinstance(mark, Affects):
            if mark.effect in effects and (axes or mark.axis is None):
                include[name] = True
        else:
            inner = _include(mark, effects, axes)
            if inner:
                include[name] = inner
    return include


def declared_dump(protocol: Protocol, effects: set[str], axes: bool = True) -> dict[str, Any]:
    """The JSON values of the fields declared with one of `effects`, nested by section (the
    content of a hash); axes=False leaves the grid-axis fields out."""
    include = _include(Protocol, effects, axes)
    return protocol.model_dump(mode="json", include=include) if include else {}


def grid_axes() -> dict[str, str]:
    """Grid axis (a TrainCell field) -> the Protocol field path that declares it."""

    def walk(section: type[BaseModel], prefix: str) -> dict[str, str]:
        found = {}
        for name, mark in declared(section).items():
            if isinstance(mark, Affects):
                if mark.axis is not None:
                    found[mark.axis] = prefix + name
            else:
                found.update(walk(mark, f"{prefix}{name}."))
        return found

    return walk(Protocol, "")


def corruption_fields(protocol: Protocol, key: str, value: str) -> list[str]:
    """YAML paths of the test sweeps (joint parts included) and train-regime corruptions that
    set `key` to `value` (e.g. fill: learned, stage: feature)."""
    found = [
        path for path, sweep in sweep_parts(protocol.test.sweeps) if getattr(sweep, key) == value
    ]
    found += [
        f"train.regimes.{name}[{i}]"
        for name, specs in protocol.train.regimes.items()
        for i, spec in enumerate(specs)
        if spec.params.get(key) == value
    ]
    return found
