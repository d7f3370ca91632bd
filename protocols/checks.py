"""Every check of a protocol beyond its schema: the names it uses, the models, regimes and sweep
points it builds, and the data set it runs on.

`check_protocol(protocol, description)` runs them all. `protocols validate` (through
tacfn_robust.protocols.loading) passes the data set's description when it follows from the data
set's name and options alone (tacfn.data.describe_dataset); `run`, `run --dry-run` and `evaluate`
(through tacfn_robust.protocols.planning.plan) pass the loaded data set's description, before any
cell trains or any file is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tacfn.core.errors import ConfigError, UserError, excerpt, suggest, unknown_message
from tacfn.core.registry import Registry
from tacfn.data import DatasetDescription, describe_dataset
from tacfn_robust.protocols.schema import Protocol, Sweep, sweep_parts


class CheckFailed(ConfigError):
    """A protocol field that fails a check: `path` (YAML path) and the one-line problem."""

    def __init__(self, path: str, problem: str) -> None:
        named = not path or problem.startswith(path)  # e.g. TrainConfig's "train.epochs=0; ..."
        super().__init__(problem if named else f"{path}: {problem}")
        self.path = path


@contextmanager
def at(path: str) -> Iterator[None]:
    """Report any UserError raised inside as a CheckFailed at `path`."""
    try:
        yield
    except CheckFailed:
        raise
    except UserError as exc:
        raise CheckFailed(path, str(exc)) from None


def static_description(protocol: Protocol) -> DatasetDescription | None:
    """The data set's description known from its name and options (no file read), or None."""
    from tacfn.data import DATASETS

    _resolve(DATASETS, protocol.dataset.name, "dataset.name")
    with at("dataset"):
        return describe_dataset(protocol.dataset.name, protocol.dataset.build_params())


def check_protocol(protocol: Protocol, data: DatasetDescription | None) -> None:
    """Raise CheckFailed for the first problem; `data` None skips the checks that need the
    data set's modalities or folds."""
    _check_names(protocol)
    _check_training(protocol)
    _check_model_options(protocol)
    _check_learned_fill(protocol)
    _check_feature_stage(protocol)
    _check_regimes(protocol, None if data is None else data.modalities)
    if data is not None:
        _check_modalities(protocol, data)
        _check_folds(protocol, data)
        _check_metric(protocol, data)
    _check_sweep_points(protocol, None if data is None else data.modalities)


def _resolve(registry: Registry[Any], name: str, path: str) -> None:
    with at(path):
        registry.get(name)


def _check_names(protocol: Protocol) -> None:
    """Data set, preset, models, metric and corruptions name what their registries hold."""
    from tacfn.data import DATASETS
    from tacfn.models import list_presets
    from tacfn.models.registry import model_class
    from tacfn_robust.corruptions import CORRUPTIONS
    from tacfn_robust.reports.scoring.metrics import check_report_metric

    _resolve(DATASETS, protocol.dataset.name, "dataset.name")
    presets = list_presets()
    if protocol.preset not in presets:
        raise CheckFailed("preset", unknown_message("preset", protocol.preset, presets))
    for index, entry in enumerate(protocol.models):
        with at("models" if isinstance(entry, str) else f"models[{index}].model"):
            model_class(entry if isinstance(entry, str) else entry.model)
    with at("report.metric"):
        check_report_metric(protocol.report.metric)
    for regime, specs in protocol.train.regimes.items():
        for i, spec in enumerate(specs):
            _resolve(CORRUPTIONS, spec.corruption, f"train.regimes.{regime}[{i}].corruption")
    for path, sweep in sweep_parts(protocol.test.sweeps):
        if sweep.corruption is not None:
            _resolve(CORRUPTIONS, sweep.corruption, f"{path}.corruption")


def _check_training(protocol: Protocol) -> None:
    """The train settings as the trainer's TrainConfig accepts them (the one place of their
    rules), with the protocol's device and test batch size."""
    from tacfn_robust.protocols.training import train_config

    with at("train"):
        train_config(protocol, seed=0)


def _check_model_options(protocol: Protocol) -> None:
    """Option names of every model, and their values for built-in models (built on the meta
    device for the preset's reference data set; a plug-in model is built when its cell runs)."""
    import torch

    from tacfn.models import FusionModel, build_model, get_preset
    from tacfn.models.registry import accepts_any_option, model_class, model_options

    info = get_preset(protocol.preset).reference
    for index, entry in enumerate(protocol.models):
        if isinstance(entry, str) or not entry.options:
            continue
        path = f"models[{index}].options"
        if not accepts_any_option(entry.model):
            allowed = list(model_options(entry.model))
            for key in entry.options:
                if key not in allowed:
                    raise CheckFailed(
                        path,
                        f"unknown option {key!r} of model {entry.model!r}; expected one of: "
                        f"{', '.join(allowed)}{suggest(key, allowed)}",
                    )
        factory = model_class(entry.model)
        if isinstance(factory, type) and issubclass(factory, FusionModel):
            with at(f"{path} ({entry.name})"), torch.device("meta"):
                build_model(entry.model, info, protocol.preset, **entry.options)


def _check_learned_fill(protocol: Protocol) -> None:
    """fill: learned (test sweeps, train regimes) needs every model built with learned_fill."""
    where = [path for path, sweep in sweep_parts(protocol.test.sweeps) if sweep.fill == "learned"]
    where += [
        f"train.regimes.{name}[{i}]"
        for name, specs in protocol.train.regimes.items()
        for i, spec in enumerate(specs)
        if spec.params.get("fill") == "learned"
    ]
    if not where:
        return
    entries = protocol.model_entries
    lacking = [name for name, e in entries.items() if not e.options.get("learned_fill")]
    if lacking:
        raise CheckFailed(
            where[0],
            f"fill: learned needs models built with learned fill, but {', '.join(lacking)} "
            "lack it; expected each model as {name: ..., model: ..., options: "
            "{learned_fill: true}}",
        )


def _check_feature_stage(protocol: Protocol) -> None:
    """stage: feature needs models with the encode/fuse split: checked here for models built
    by a class, when a cell starts for models built by a function."""
    from tacfn.models.registry import model_class
    from tacfn_robust.protocols.evaluate import feature_stage_fields, refuse_feature_stage

    fields = feature_stage_fields(protocol)
    for name, entry in protocol.model_entries.items() if fields else ():
        factory = model_class(entry.model)
        if isinstance(factory, type):
            with at(fields[0]):
                refuse_feature_stage(protocol, name, factory)


def _check_regimes(protocol: Protocol, modalities: tuple[str, ...] | None) -> None:
    """Every regime builds as the cells will build it (rates feasible for the data set's
    modalities when they are known)."""
    from tacfn_robust.corruptions import TrainRegime
    from tacfn_robust.protocols.fills import with_mean

    for name, specs in protocol.train.regimes.items():
        built = [with_mean(s.corruption, s.modality, s.as_spec(), None) for s in specs]
        with at(f"train.regimes.{name}"):
            TrainRegime(built, seed=0, modalities=modalities)


def _check_modalities(protocol: Protocol, data: DatasetDescription) -> None:
    """Every corruption names a modality of the data set."""
    named = [
        (f"train.regimes.{regime}[{i}].modality", c.modality)
        for regime, specs in protocol.train.regimes.items()
        for i, c in enumerate(specs)
    ]
    named += [
        (f"{path}.modality", sweep.modality)
        for path, sweep in sweep_parts(protocol.test.sweeps)
        if sweep.modality is not None
    ]
    valid = data.modalities
    for path, modality in named:
        if modality not in valid:
            raise CheckFailed(
                path,
                f"{excerpt(modality)} is not a modality of data set {protocol.dataset.name!r}; "
                f"expected one of: {', '.join(valid)}{suggest(modality, valid)}",
            )


def _check_folds(protocol: Protocol, data: DatasetDescription) -> None:
    """dataset.folds can be built from the data set's groups (actors), and every fold index
    of `folds` exists."""
    with at("dataset.folds"):
        count = data.fold_count(protocol.dataset.folds)
    if count is None or protocol.folds is None:
        return
    bad = [f for f in protocol.folds if f >= count]
    if bad:
        raise CheckFailed("folds", f"fold {bad[0]} does not exist; expected 0..{count - 1}")


def _check_metric(protocol: Protocol, data: DatasetDescription) -> None:
    """A multilabel set has its own metrics (means over its labels)."""
    from tacfn_robust.reports.scoring.metrics import MULTILABEL_METRICS

    metric = protocol.report.metric
    if data.task == "multilabel" and metric not in MULTILABEL_METRICS:
        raise CheckFailed(
            "report.metric",
            f"{metric!r} is not computed for the multilabel data set {protocol.dataset.name!r}; "
            f"expected one of: {', '.join(MULTILABEL_METRICS)}",
        )


def _check_sweep_points(protocol: Protocol, modalities: tuple[str, ...] | None) -> None:
    """Every sweep point builds its corruption (e.g. p within 0..1), as the run will; with the
    data set's modalities, the whole condition grid is expanded as the run expands it."""
    from tacfn_robust.protocols.conditions import resolve_point
    from tacfn_robust.protocols.grid import expand_conditions

    if modalities is not None:
        with at("test.sweeps"):
            expand_conditions(protocol, modalities, resolve_point)
        return
    for path, sweep in sweep_parts(protocol.test.sweeps):
        if sweep.kind == "corruption":
            _check_points(sweep, path, resolve_point)


def _check_points(sweep: Sweep, path: str, resolve: Any) -> None:
    points = sweep.values if sweep.values is not None else sweep.levels
    with at(path):
        for point in points or ():
            resolve(sweep, point, sweep.levels is not None)
