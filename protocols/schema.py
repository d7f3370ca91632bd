"""The protocol schema: pydantic models that are the only thing the runner accepts."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

from tacfn.core.errors import UserError, excerpt, suggest, unknown_message
from tacfn.core.registry import Registry

if TYPE_CHECKING:
    from tacfn.train import TrainConfig

DATASETS_NEEDING_PATH = ("ravdess", "mult_pickle", "npz")
PICKLED_DATASETS = ("mult_pickle",)
SEED_LIMIT = 2**32  # seeds feed numpy and torch generators


def unknown(kind: str, name: str, valid: list[str] | tuple[str, ...]) -> ValueError:
    """A validator error for an unknown registry name, with the valid names and a suggestion."""
    return ValueError(unknown_message(kind, name, valid))


def resolved(registry: Registry[Any], name: str) -> str:
    """`name` when `registry` resolves it (registered, "module:attr" or an entry point), else
    a validator error with the registry's one-line message."""
    try:
        registry.get(name)
    except UserError as exc:
        raise ValueError(str(exc)) from None
    return name


class Strict(BaseModel):
    """Base of every protocol section: unknown keys are errors; types are strict (no `true`
    for an integer, no "5" for a number)."""

    model_config = ConfigDict(extra="forbid", validate_default=True, strict=True)


class CorruptionParams(BaseModel):
    """A corruption by name and modality; extra keys are the corruption's own parameters."""

    model_config = ConfigDict(extra="allow", strict=True)

    corruption: str
    modality: str

    @field_validator("corruption")
    @classmethod
    def _known_corruption(cls, name: str) -> str:
        from corruptions import CORRUPTIONS

        return name if name == "subsets" else resolved(CORRUPTIONS, name)

    @property
    def params(self) -> dict[str, Any]:
        """The corruption's own parameters (everything but corruption and modality)."""
        return dict(self.model_extra or {})


class TrainCorruption(CorruptionParams):
    """One train-time corruption of a regime, as TrainRegime accepts it (p, severity range, ...)."""

    def as_spec(self) -> dict[str, Any]:
        return {"corruption": self.corruption, "modality": self.modality, **self.params}


class Sweep(Strict):
    """One test-time axis: a corruption swept over parameter values or severity levels.

    `kind: subsets` instead evaluates every non-empty subset of the data set's modalities.
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
        CorruptionParams(corruption=self.corruption, modality=self.modality)
        return self

    @property
    def params(self) -> dict[str, Any]:
        """Fixed corruption parameters of the sweep (extra keys)."""
        return dict(self.model_extra or {})


class JointSweep(Strict):
    """A product grid of two sweeps, e.g. audio SNR x video occlusion."""

    joint: list[Sweep] = Field(min_length=2, max_length=2)

    @model_validator(mode="after")
    def _two_corruption_sweeps(self) -> JointSweep:
        if any(s.kind != "corruption" for s in self.joint):
            raise ValueError("a joint sweep combines two corruption sweeps, not subsets")
        return self


class DatasetSpec(Strict):
    """Which data set and how to build it; set fields are passed to build_dataset."""

    name: str = "synthetic"
    path: str | None = None
    folds: PositiveInt | None = None
    actors: PositiveInt | None = None
    seed: int | None = None
    frames: PositiveInt | None = None
    size: PositiveInt | None = None
    duration: float | None = None
    sample_rate: PositiveInt | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        from tacfn.data import DATASETS

        return resolved(DATASETS, name)

    @model_validator(mode="after")
    def _path_when_needed(self) -> DatasetSpec:
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
    """Training settings shared by every train cell, and the train-time corruption regimes."""

    epochs: PositiveInt = 10
    batch_size: PositiveInt = 32
    lr: float = Field(1e-3, gt=0)
    optimizer: Literal["adam", "adamw"] = "adam"
    weight_decay: float = Field(0.0, ge=0)
    schedule: Literal["none", "cosine", "plateau"] = "none"
    plateau_patience: PositiveInt = 20
    grad_clip: float | None = Field(None, gt=0)
    select: Literal["val_loss", "val_acc", "last"] = "val_loss"
    pretrain_epochs: int = Field(0, ge=0)
    amp: bool = False
    legacy_test_eval: bool = False
    regimes: dict[str, list[TrainCorruption]] = Field(default_factory=lambda: {"clean": []})

    @field_validator("regimes")
    @classmethod
    def _valid_regimes(cls, regimes: dict[str, list[TrainCorruption]]) -> dict:
        from corruptions import TrainRegime
        from protocols.fills import with_mean

        if not regimes:
            raise ValueError("no regimes; expected at least one, e.g. {clean: []}")
        for name, specs in regimes.items():
            if not name.replace("_", "").isalnum():
                raise ValueError(f"regime name {name!r}; expected letters, digits and _")
            try:
                TrainRegime(
                    [with_mean(s.corruption, s.modality, s.as_spec(), None) for s in specs], seed=0
                )
            except UserError as exc:
                raise ValueError(f"regime {name!r}: {exc}") from None
        return regimes

    def config(self, seed: int, device: str, eval_batch_size: int) -> TrainConfig:
        """The trainer's TrainConfig of one cell: these settings (all but the regimes) plus the
        cell's seed, the protocol's device and its test batch size."""
        from tacfn.train import TrainConfig

        settings = self.model_dump(exclude={"regimes"})
        return TrainConfig(**settings, seed=seed, device=device, eval_batch_size=eval_batch_size)


class TestSpec(Strict):
    """Test-time settings: batch size, corruption seed and the sweeps that define the conditions.

    `seed` keys every test-time corruption, (seed, condition, sample id); it is the same for
    every train cell, so models and training seeds are compared on identical corruptions.
    """

    __test__ = False  # not a pytest test class

    batch_size: PositiveInt = 64
    seed: int = 0
    sweeps: list[Sweep | JointSweep] = Field(default_factory=list)


class ReportSpec(Strict):
    """What the report compares: metric, reference model (for CE), focus model, CI level.

    Unset reference / focus default to concat / tacfn when the protocol has them, else to the
    first model. `metric` (a name the reports.scoring.metrics.METRICS registry resolves) drives
    curves, contrasts and checks. `contrasts`: the kinds of question the report answers
    (model: the focus against each fusion model; regime: each regime against the first;
    interaction: focus − reference across regimes); unset, the grid decides
    (reports.statistics.contrasts.default_kinds). `margin`: the equivalence margin of every
    verdict (unset: 0.03). Both change the report only (REPORT_ONLY_FIELDS).
    """

    metric: str = "accuracy"
    reference: str | None = None
    focus: str | None = None
    ci: float = Field(0.95, gt=0, lt=1)
    contrasts: list[Literal["model", "regime", "interaction"]] | None = None
    margin: float | None = Field(None, gt=0, lt=1)

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, name: str) -> str:
        from reports.scoring.metrics import METRICS

        return resolved(METRICS, name)


class ModelEntry(Strict):
    """A model built with options under its own name, e.g. {name: tacfn_gain_size, model:
    tacfn, options: {gain: size}} or {name: mine, model: "my_pkg.fusion:MyFusion"}; reports
    show `name`."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    model: str
    options: dict[str, Any] = Field(default_factory=dict)


class ExecutorSpec(Strict):
    """Where train cells run: in this process / a local pool (local) or on a Dask cluster.

    `threads` is the torch thread count of every cell, whatever the executor, so that
    sequential, pool and Dask runs give bit-identical results. `workers: auto` uses as many
    workers as the machine's cores allow at `threads` each (never more than pending cells).
    """

    kind: Literal["local", "dask"] = "local"
    workers: PositiveInt | Literal["auto"] = "auto"
    address: str | None = None
    threads: PositiveInt = 1


class Protocol(Strict):
    """A validated protocol with defaults filled."""

    name: str
    description: str = ""
    dataset: DatasetSpec = Field(default_factory=DatasetSpec)
    preset: str = "cpu"
    models: list[str | ModelEntry] = Field(min_length=1)
    train: TrainSpec = Field(default_factory=TrainSpec)
    test: TestSpec = Field(default_factory=TestSpec)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1, max_length=10_000)
    folds: list[int] | None = None
    report: ReportSpec = Field(default_factory=ReportSpec)
    output: str | None = None
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec)
    device: Literal["auto", "cpu", "cuda"] = "auto"

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
    def _known_models(cls, models: list[str | ModelEntry]) -> list[str | ModelEntry]:
        from tacfn.models.registry import accepts_any_option, model_class, model_options

        for index, entry in enumerate(models):
            model = entry if isinstance(entry, str) else entry.model
            try:
                model_class(model)
            except UserError as exc:
                where = "" if isinstance(entry, str) else f"models[{index}].model: "
                raise ValueError(f"{where}{exc}") from None
            if isinstance(entry, ModelEntry) and not accepts_any_option(model):
                allowed = list(model_options(model))
                for key in entry.options:
                    if key not in allowed:
                        raise ValueError(
                            f"models[{index}].options: unknown option {key!r} of model "
                            f"{model!r}; expected one of: {', '.join(allowed)}"
                            f"{suggest(key, allowed)}"
                        )
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

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, preset: str) -> str:
        from tacfn.models import list_presets

        valid = list_presets()
        if preset not in valid:
            raise unknown("preset", preset, valid)
        return preset

    @field_validator("name")
    @classmethod
    def _safe_name(cls, name: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}", name):
            raise ValueError(
                f"name {excerpt(name)} is not a safe directory name; expected 1-100 letters, "
                "digits, _, - or . (not first), e.g. missing_audio"
            )
        return name

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
        return folds

    @model_validator(mode="after")
    def _cross_checks(self) -> Protocol:
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
        self._check_modalities()
        self._check_sweep_points()
        self._check_model_options()
        self._check_learned_fill()
        self._check_regime_rates()
        return self

    def _check_model_options(self) -> None:
        """Build every built-in model with options on the meta device: option values are
        checked (a plug-in model is built for its data set only, when the cell runs)."""
        import torch

        from tacfn.models import FusionModel, build_model, get_preset
        from tacfn.models.registry import model_class

        info = get_preset(self.preset).reference
        for index, entry in enumerate(self.models):
            if isinstance(entry, str) or not entry.options:
                continue
            factory = model_class(entry.model)
            if not (isinstance(factory, type) and issubclass(factory, FusionModel)):
                continue
            try:
                with torch.device("meta"):
                    build_model(entry.model, info, self.preset, **entry.options)
            except UserError as exc:
                raise ValueError(f"models[{index}].options ({entry.name}): {exc}") from None

    def _check_learned_fill(self) -> None:
        """fill: learned (test sweeps, train regimes) needs every model built with learned_fill."""
        where = [
            f"test.sweeps[{i}]"
            for i, sweep in enumerate(self.test.sweeps)
            for part in (sweep.joint if isinstance(sweep, JointSweep) else [sweep])
            if part.fill == "learned"
        ]
        where += [
            f"train.regimes.{name}[{i}]"
            for name, specs in self.train.regimes.items()
            for i, spec in enumerate(specs)
            if spec.params.get("fill") == "learned"
        ]
        if not where:
            return
        lacking = [n for n, e in self.model_entries.items() if not e.options.get("learned_fill")]
        if lacking:
            raise ValueError(
                f"{where[0]}: fill: learned needs models built with learned fill, but "
                f"{', '.join(lacking)} lack it; expected each model as {{name: ..., model: ..., "
                "options: {learned_fill: true}}"
            )

    def _check_regime_rates(self) -> None:
        """Missing rates of every regime are feasible for the data set's modalities."""
        from corruptions import TrainRegime
        from protocols.fills import with_mean
        from tacfn.data import dataset_modalities

        modalities = dataset_modalities(self.dataset.name)
        if modalities is None:
            return
        for name, specs in self.train.regimes.items():
            try:
                TrainRegime(
                    [with_mean(s.corruption, s.modality, s.as_spec(), None) for s in specs],
                    seed=0,
                    modalities=modalities,
                )
            except UserError as exc:
                raise ValueError(f"train.regimes.{name}: {exc}") from None

    def _check_modalities(self) -> None:
        """Every corruption names a modality of the data set (when the set's are fixed)."""
        from tacfn.data import dataset_modalities

        valid = dataset_modalities(self.dataset.name)
        if valid is None:
            return
        named = [
            (f"train.regimes.{regime}[{i}].modality", c.modality)
            for regime, specs in self.train.regimes.items()
            for i, c in enumerate(specs)
        ]
        for i, sweep in enumerate(self.test.sweeps):
            parts = sweep.joint if isinstance(sweep, JointSweep) else [sweep]
            for j, part in enumerate(parts):
                where = f"test.sweeps[{i}]" + (f".joint[{j}]" if len(parts) > 1 else "")
                if part.modality is not None:
                    named.append((f"{where}.modality", part.modality))
        for where, modality in named:
            if modality not in valid:
                raise ValueError(
                    f"{where}: {excerpt(modality)} is not a modality of data set "
                    f"{self.dataset.name!r}; expected one of: {', '.join(valid)}"
                    f"{suggest(modality, valid)}"
                )

    def _check_sweep_points(self) -> None:
        """Every sweep point builds its corruption (e.g. p within 0..1), as the run will."""
        from protocols.conditions import resolve_point
        from protocols.grid import expand_conditions
        from tacfn.data import dataset_modalities

        modalities = dataset_modalities(self.dataset.name)
        if modalities is None:
            return
        try:
            expand_conditions(self, modalities, resolve_point)
        except UserError as exc:
            message = str(exc)
            where = "" if message.startswith("test.sweeps") else "test.sweeps: "
            raise ValueError(f"{where}{message}") from None
