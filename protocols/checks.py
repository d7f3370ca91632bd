"""Every check of a protocol beyond its schema: the names it uses, the models, regimes and sweep
points it builds, and the data set it runs on.

`check_protocol(protocol, description)` runs them all. `protocols validate` (through
tacfn_robust.protocols.loading) passes the data set's description when it follows from the data
set's name and options alone (tacfn.data.describe_dataset); `run`, `run --dry-run` and `evaluate`
(through tacfn_robust.protocols.planning.plan) pass the loaded data set's description, before any
cell trains or any file is written.

A protocol file is data: a name that is none of the registries' entries but a `"module:attr"`
target (`code_names`) is code the file names, refused unless `trust_code: true`
(`check_trust`, always first). Validation (`imports=False`) imports none of them, and checks
that a name is a registry entry without loading the entry point behind it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tacfn.core.errors import ConfigError, UserError, excerpt, suggest, unknown_message
from tacfn.core.hashing import canonical_json
from tacfn.core.registry import Registry
from tacfn.data import DatasetDescription, describe_dataset
from tacfn_robust.protocols.schema import Protocol, Sweep, corruption_fields, sweep_parts


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


def static_description(protocol: Protocol, imports: bool = True) -> DatasetDescription | None:
    """The data set's description known from its name and options (no file read), or None;
    with imports=False, None for a data set the protocol names as `"module:attr"`."""
    from tacfn.data import DATASETS

    if not imports and DATASETS.is_code(protocol.dataset.name):
        return None
    _resolve(DATASETS, protocol.dataset.name, "dataset.name", imports)
    with at("dataset"):
        return describe_dataset(protocol.dataset.name, protocol.dataset.build_params())


def check_protocol(
    protocol: Protocol, data: DatasetDescription | None, imports: bool = True
) -> None:
    """Raise CheckFailed for the first problem; `data` None skips the checks that need the
    data set's modalities or folds. imports=False (validation) leaves out the checks of the
    `"module:attr"` targets that `trust_code: true` allows: they need their modules."""
    check_trust(protocol)
    code = set() if imports else {name for _, name in code_names(protocol)}
    _check_names(protocol, code, imports)
    _check_model_entries(protocol)
    _check_training(protocol)
    _check_model_options(protocol, code)
    _check_learned_fill(protocol)
    _check_feature_stage(protocol, code)
    _check_regimes(protocol, None if data is None else data.modalities, code)
    if data is not None:
        _check_modalities(protocol, data)
        _check_folds(protocol, data)
        _check_metric(protocol, data)
    _check_sweep_points(protocol, None if data is None else data.modalities, code)


def _named(protocol: Protocol) -> list[tuple[Registry[Any], str, str]]:
    """(registry, YAML path, name) of every name in the protocol that a registry resolves."""
    from tacfn.data import DATASETS
    from tacfn.models import MODELS
    from tacfn_robust.corruptions import CORRUPTIONS
    from tacfn_robust.reports.scoring.metrics import METRICS

    found: list[tuple[Registry[Any], str, str]] = [
        (DATASETS, "dataset.name", protocol.dataset.name)
    ]
    for index, entry in enumerate(protocol.models):
        if isinstance(entry, str):
            found.append((MODELS, "models", entry))
        else:
            found.append((MODELS, f"models[{index}].model", entry.model))
    found.append((METRICS, "report.metric", protocol.report.metric))
    for regime, specs in protocol.train.regimes.items():
        found += [
            (CORRUPTIONS, f"train.regimes.{regime}[{i}].corruption", spec.corruption)
            for i, spec in enumerate(specs)
        ]
    for path, sweep in sweep_parts(protocol.test.sweeps):
        if sweep.corruption is not None:
            found.append((CORRUPTIONS, f"{path}.corruption", sweep.corruption))
    return found


def code_names(protocol: Protocol) -> list[tuple[str, str]]:
    """(YAML path, name) of every `"module:attr"` name of the protocol that is none of its
    registry's entries: resolving it imports, and so runs, the module it names."""
    return [(path, name) for registry, path, name in _named(protocol) if registry.is_code(name)]


def check_trust(protocol: Protocol) -> None:
    """Refuse the first `"module:attr"` name (code the protocol names) unless the protocol sets
    trust_code: true; with it, check each name's form. Imports nothing."""
    from tacfn.core.registry import check_target, untrusted

    for path, name in code_names(protocol):
        if not protocol.trust_code:
            raise CheckFailed(path, untrusted(name))
        with at(path):
            check_target(name, path)


def _resolve(registry: Registry[Any], name: str, path: str, imports: bool) -> None:
    """`name` resolves in `registry`; imports=False only checks that it is an entry (an entry
    point is listed, not loaded)."""
    from tacfn.models import MODELS
    from tacfn.models.registry import model_class

    if not imports and name in registry:
        return
    with at(path):
        if registry is MODELS:
            model_class(name)  # also the <modality>_only references
        else:
            registry.get(name)


def _check_names(protocol: Protocol, code: set[str], imports: bool) -> None:
    """Data set, preset, models, metric and corruptions name what their registries hold
    (names in `code` are left to the run that imports them)."""
    from tacfn.models import list_presets
    from tacfn_robust.reports.scoring.metrics import check_report_metric

    presets = list_presets()
    if protocol.preset not in presets:
        raise CheckFailed("preset", unknown_message("preset", protocol.preset, presets))
    for registry, path, name in _named(protocol):
        if name not in code:
            _resolve(registry, name, path, imports)
    if protocol.report.metric not in code:
        with at("report.metric"):
            check_report_metric(protocol.report.metric)


def _check_model_entries(protocol: Protocol) -> None:
    """An entry named after a registered model builds that model, and no two entries build the
    same model with the same options (it would train twice under two names)."""
    from tacfn.models.registry import list_models

    registered = list_models()
    built: dict[str, int] = {}
    for index, entry in enumerate(protocol.model_entries.values()):
        if entry.name != entry.model and entry.name in registered:
            raise CheckFailed(
                f"models[{index}].name",
                f"{entry.name!r} is a registered model, but the entry builds {entry.model!r}; "
                f"expected model: {entry.name}, or another name",
            )
        recipe = canonical_json({"model": entry.model, "options": entry.options})
        if recipe in built:
            raise CheckFailed(
                f"models[{index}]",
                f"{entry.name!r} builds the same model as models[{built[recipe]}]; expected each "
                "model once",
            )
        built[recipe] = index


def _check_training(protocol: Protocol) -> None:
    """The train settings as the trainer's TrainConfig accepts them (the one place of their
    rules), with the protocol's device and test batch size."""
    from tacfn_robust.protocols.training import train_config

    with at("train"):
        train_config(protocol, seed=0)


def _check_model_options(protocol: Protocol, code: set[str]) -> None:
    """Option names of every model, and their values for built-in models (built on the meta
    device for the preset's reference data set; a plug-in model is built when its cell runs)."""
    import torch

    from tacfn.models import FusionModel, build_model, get_preset
    from tacfn.models.registry import accepts_any_option, model_class, model_options

    info = get_preset(protocol.preset).reference
    for index, entry in enumerate(protocol.models):
        if isinstance(entry, str) or not entry.options or entry.model in code:
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
    where = corruption_fields(protocol, "fill", "learned")
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


def _check_feature_stage(protocol: Protocol, code: set[str]) -> None:
    """stage: feature needs models with the encode/fuse split: checked here for models built
    by a class, when a cell starts for models built by a function (or named in `code`)."""
    from tacfn.models.registry import model_class
    from tacfn_robust.protocols.evaluate import refuse_feature_stage

    fields = corruption_fields(protocol, "stage", "feature")
    for name, entry in protocol.model_entries.items() if fields else ():
        if entry.model in code:
            continue
        factory = model_class(entry.model)
        if isinstance(factory, type):
            with at(fields[0]):
                refuse_feature_stage(protocol, name, factory)


def _check_regimes(protocol: Protocol, modalities: tuple[str, ...] | None, code: set[str]) -> None:
    """Every regime builds as the cells will build it (rates feasible for the data set's
    modalities when they are known); a regime with a corruption in `code` is left out."""
    from tacfn_robust.corruptions import TrainRegime
    from tacfn_robust.protocols.fills import with_mean

    for name, specs in protocol.train.regimes.items():
        if any(s.corruption in code for s in specs):
            continue
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


def _check_sweep_points(
    protocol: Protocol, modalities: tuple[str, ...] | None, code: set[str]
) -> None:
    """Every sweep point builds its corruption (e.g. p within 0..1), as the run will; each part
    of a joint sweep has a point that is not the identity; with the data set's modalities, the
    whole condition grid is expanded as the run expands it. Sweeps of a corruption in `code`
    are left out."""
    from tacfn_robust.protocols.conditions import resolve_point
    from tacfn_robust.protocols.grid import expand_conditions

    parts = sweep_parts(protocol.test.sweeps)
    for path, sweep in parts:
        if sweep.kind == "corruption" and sweep.corruption not in code:
            identities = _check_points(sweep, path, resolve_point)
            if ".joint[" in path and all(identities):
                raise CheckFailed(
                    path,
                    f"every point of {sweep.corruption}[{sweep.modality}] "
                    f"({excerpt(sweep.values or sweep.levels)}) is the identity, so the joint "
                    "grid (non-identity points only) is empty; expected a point that corrupts",
                )
    if modalities is not None and not any(s.corruption in code for _, s in parts):
        with at("test.sweeps"):
            expand_conditions(protocol, modalities, resolve_point)


def _check_points(sweep: Sweep, path: str, resolve: Any) -> list[bool]:
    """Whether each point of a corruption sweep is the identity (each point built)."""
    points = sweep.values if sweep.values is not None else sweep.levels
    with at(path):
        return [resolve(sweep, point, sweep.levels is not None)[1] for point in points or ()]
