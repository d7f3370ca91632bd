"""The run store's contract: the one definition of a run directory, for its writer and readers.

The protocol runner writes a run directory and the reports read it, both through this module:
the layout and file names, the lock names, the condition and sweep id formats, the columns of
predictions.parquet and records.parquet, the artefact checksums of cell.json, the identity
(cell key, test conditions hash) each cell table records and its check, one JSON reader,
and the typed content (pydantic models) of cell.json, summary.json and baseline files with
their reader and writer. A missing or damaged file read here is a DataError naming the path and
what was expected, a file that does not match its model one naming the path and the field; a
caller that tolerates absence checks for the file first. Every write goes through
tacfn.core.io's atomic writer.

The path rule: the toolkit writes and deletes only inside a run directory it created or
recognises (`check_run_dir`), never through a symbolic link inside it (the layout functions
below check every part with tacfn.core.io.checked_path), and a file a user asks for (a
baseline, JUnit XML, an export, a comparison) never replaces a run's own entries
(`check_output`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import pandas as pd
from pydantic import (
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    ValidationError,
)

from tacfn.core.errors import DataError
from tacfn.core.io import PathError, atomic_write, checked_path, describe_file, file_problem
from tacfn.core.io import write_json as write_json  # the JSON writer of the pair with read_json

# ---- layout ----------------------------------------------------------------------------------

PROTOCOL_FILE = "protocol.json"  # the validated protocol, its hash, versions and grid
PROTOCOL_YAML = "protocol.yaml"  # the validated protocol, defaults filled
SUMMARY_FILE = (
    "summary.json"  # every curve point with its CI (tacfn_robust.reports.rendering.summary)
)
RESULTS_PARQUET = "results.parquet"  # the tidy metrics table (tacfn_robust.reports.scoring.table)
RESULTS_CSV = "results.csv"
REPORT_DIR = "report"  # report.html and the PNG figures
REPORT_FILE = "report.html"
RUN_LOCK = ".run.lock"  # one run at a time in a run directory
REPORT_LOCK = ".report.lock"  # report builds of a run directory serialise
STORE_DIR = "store"  # the cells
ROOT_FILES = (PROTOCOL_FILE, PROTOCOL_YAML)  # what the runner writes at the top
REPORT_FILES = (RESULTS_PARQUET, RESULTS_CSV, SUMMARY_FILE)  # what a report build writes there
RUN_FILES = (*ROOT_FILES, *REPORT_FILES, RUN_LOCK, REPORT_LOCK)  # a run's own files at the top
OWN_ENTRIES = (*RUN_FILES, STORE_DIR, REPORT_DIR)  # a run's own entries: nothing else writes them

CELL_FILE = "cell.json"
PREDICTIONS_FILE = "predictions.parquet"
RECORDS_FILE = "records.parquet"
CHECKPOINT_FILE = "checkpoint.pt"
LOG_FILE = "train_log.csv"
ARTEFACTS = (CHECKPOINT_FILE, LOG_FILE, PREDICTIONS_FILE, RECORDS_FILE)


def cells_root(run_dir: str | os.PathLike[str]) -> Path:
    """`<run_dir>/store/cells`: one directory per trained model, named by its key (each part
    checked: a link or a file there is a PathError)."""
    return checked_path(run_dir, STORE_DIR, "cells")


def cell_dir(run_dir: str | os.PathLike[str], key: str) -> Path:
    return checked_path(run_dir, STORE_DIR, "cells", key)


def report_dir(run_dir: str | os.PathLike[str]) -> Path:
    return checked_path(run_dir, REPORT_DIR)


def is_run_dir(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is a run directory: a directory holding protocol.json, which `run` writes
    first, before any cell or report."""
    return os.path.isdir(path) and os.path.isfile(Path(path) / PROTOCOL_FILE)


def _left_by_a_run(name: str) -> bool:
    """A lock, or a temporary of a protocol file: all a run killed before protocol.json leaves."""
    own = name in (RUN_LOCK, REPORT_LOCK)
    return own or any(name.startswith(f".{f}.") and name.endswith(".tmp") for f in ROOT_FILES)


def check_run_dir(run_dir: str | os.PathLike[str]) -> Path:
    """`run_dir` when `run` may write there, else a PathError naming it and what is wrong.

    It may be new, an empty directory, a run directory (`is_run_dir`) or one a killed run left
    before protocol.json (locks and temporaries only): any other folder holds files the run
    would overwrite or delete. None of its own entries may be a symbolic link or of the wrong
    type (a folder where a file belongs, or the reverse).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return run_dir  # created by the runner, which names what is in the way
    for name in RUN_FILES:
        checked_path(run_dir, name, file=True)
    report_dir(run_dir)
    cells_root(run_dir)
    if is_run_dir(run_dir):
        return run_dir
    foreign = sorted(name for name in os.listdir(run_dir) if not _left_by_a_run(name))
    if foreign:
        raise PathError(
            f"run directory {run_dir}: exists and is not a run directory (no {PROTOCOL_FILE}; "
            f"holds {len(foreign)} other entries, e.g. {foreign[0]!r}) that a run would "
            "overwrite or delete; expected a new or empty folder, or one written by 'run'"
        )
    return run_dir


def check_output(path: str | os.PathLike[str]) -> Path:
    """`path` for what a user asks a command to write (a baseline, JUnit XML, an export, a
    comparison folder), unless it is or lies in a run directory's own entries (OWN_ENTRIES),
    links resolved: a PathError then names the run."""
    target = Path(os.path.realpath(path))
    for parent in target.parents:
        if is_run_dir(parent) and (own := target.relative_to(parent).parts[0]) in OWN_ENTRIES:
            raise PathError(
                f"{path}: is the run directory {parent}'s own {own!r}, which the run and its "
                f"report write; expected a path outside {', '.join(OWN_ENTRIES)}"
            )
    return Path(path)


# ---- condition and sweep ids -----------------------------------------------------------------

CLEAN = "clean"  # the condition and sweep id of the uncorrupted test set
SUBSETS = "subsets"  # the sweep id and `corruption` column of modality-subset conditions
SWEEP_FIELDS = frozenset(
    {"kind", "corruption", "modality", "param", "values", "levels", "fill", "stage"}
)  # keys of a declared test sweep; any other key is a fixed parameter of its corruption


def qualifiers(
    params: Iterable[tuple[str, Any]] = (), fill: str | None = None, stage: str | None = None
) -> list[str]:
    """`k=v` for the fixed parameters, then the non-default fill and stage of missing inputs."""
    out = [f"{k}={v}" for k, v in params]
    if fill not in (None, "zeros"):
        out.append(f"fill={fill}")
    if stage not in (None, "input"):
        out.append(f"stage={stage}")
    return out


def qualified(name: str, extra: list[str]) -> str:
    """`subset[audio]` with ["stage=feature"] -> `subset[audio;stage=feature]`."""
    return f"{name[:-1]};{';'.join(extra)}]" if extra else name


def sweep_target(
    corruption: str,
    modality: str,
    params: Iterable[tuple[str, Any]] = (),
    fill: str | None = None,
    stage: str | None = None,
) -> str:
    """What a sweep corrupts, e.g. missing[audio;fill=mean;stage=feature] (params sorted)."""
    return f"{corruption}[{';'.join([modality, *qualifiers(params, fill, stage)])}]"


def sweep_id(target: str, param: str) -> str:
    """A sweep target and the parameter swept, e.g. missing[audio].p."""
    return f"{target}.{param}"


def condition_id(sweep: str, value: float) -> str:
    """One sweep point, e.g. missing[audio].p=0.4: the value's shortest text that reads back as
    exactly it (6 significant digits when they suffice, so 0.5000001 is not 0.5), -0.0 as 0."""
    value = float(value) + 0.0
    short = f"{value:g}"
    return f"{sweep}={short if float(short) == value else repr(value)}"


def joint_id(first: str, second: str) -> str:
    """The id of a point (or sweep) of a joint grid from its two axes' ids."""
    return f"{first}+{second}"


def subsets_sweep_id(fill: str, stage: str) -> str:
    """`subsets`, or `subsets[fill=mean;stage=feature]` with non-default options."""
    extra = qualifiers((), fill, stage)
    return f"{SUBSETS}[{';'.join(extra)}]" if extra else SUBSETS


def declares_sweep(spec: Mapping[str, Any], sweep: str) -> bool:
    """Whether a declared test sweep (protocol.json `protocol.test.sweeps[i]`) made the sweep id.

    A declaration without `param` sweeps its corruption's default parameter: any one matches.
    """
    params = sorted((k, v) for k, v in spec.items() if k not in SWEEP_FIELDS)
    target = sweep_target(
        str(spec.get("corruption")),
        str(spec.get("modality")),
        params,
        spec.get("fill"),
        spec.get("stage"),
    )
    param = spec.get("param")
    return sweep.startswith(sweep_id(target, "")) and (
        param is None or sweep == sweep_id(target, param)
    )


# ---- columns ---------------------------------------------------------------------------------

RUN_KEYS = ["model", "regime", "seed", "fold"]  # the cell of a prediction row
AXIS_FIELDS = ("corruption", "modality", "param", "value", "unit")  # one sweep axis
AXIS_SUFFIXES = ("", "2")  # first axis, second axis of a joint sweep
AXIS_COLUMNS = [f"{name}{suffix}" for suffix in AXIS_SUFFIXES for name in AXIS_FIELDS]
MISSING_COLUMNS = ["stage", "fill"]  # the missing corruption's options (else null)
CONDITION_COLUMNS = ["sweep", "condition", *AXIS_COLUMNS, *MISSING_COLUMNS]
TEXT_COLUMNS = [c for c in AXIS_COLUMNS if not c.startswith("value")] + MISSING_COLUMNS
FLOAT_COLUMNS = ["value", "value2", "realised", "realised2"]
RECORDS_COLUMNS = ["condition", "corruption", "sample_id", "field", "value", "text"]


def condition_columns(columns: Mapping[str, Any]) -> dict[str, Any]:
    """The axis, stage and fill columns of predictions.parquet, None where `columns` has none."""
    return {**dict.fromkeys([*AXIS_COLUMNS, *MISSING_COLUMNS]), **columns}


def typed_predictions(table: pd.DataFrame) -> pd.DataFrame:
    """The predictions table with the contract's column types: text columns str, numbers float64."""
    for column in TEXT_COLUMNS:
        table[column] = table[column].astype("str")
    for column in FLOAT_COLUMNS:
        table[column] = table[column].astype("float64")
    return table


def typed_records(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """records.parquet from record rows: `value` float64 (numbers), `text` (anything else)."""
    frame = pd.DataFrame(rows, columns=RECORDS_COLUMNS)
    frame["value"] = frame["value"].astype("float64")
    return frame


# ---- files -----------------------------------------------------------------------------------


def read_json(path: str | os.PathLike[str], remedy: str = "") -> dict[str, Any]:
    """The JSON object in `path`, or a DataError naming the file, what is wrong with it, what
    was expected and, when given, the `remedy` (e.g. the command that writes the file again)."""
    path = Path(path)
    expected = f"expected a JSON object; {remedy}" if remedy else "expected a JSON object"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: missing; {expected}") from None
    except OSError as exc:
        raise DataError(f"{path}: unreadable ({exc.strerror}); {expected}") from None
    try:
        value = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise DataError(f"{path}: damaged (not UTF-8 text); {expected}") from None
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}: damaged, not valid JSON ({exc.msg} at line {exc.lineno}); {expected}"
        ) from None
    if not isinstance(value, dict):
        raise DataError(f"{path}: got {type(value).__name__}, {expected}")
    return value


def write_parquet(
    path: str | os.PathLike[str], frame: pd.DataFrame, identity: Mapping[str, Any] | None = None
) -> Path:
    """Write a table as parquet; a cell's table gets its `identity` (cell_identity) in the
    file's key/value metadata."""
    if identity is not None:
        frame = frame.copy(deep=False)
        frame.attrs = {IDENTITY: dict(identity)}
    return atomic_write(path, lambda f: frame.to_parquet(f, index=False))


def artefacts(directory: Path) -> dict[str, dict[str, Any]]:
    """{file name: {"bytes", "sha256"}} of the artefacts present in a cell directory."""
    return {
        name: describe_file(directory / name) for name in ARTEFACTS if (directory / name).is_file()
    }


def artefact_problems(directory: Path, record: Mapping[str, Any]) -> list[str]:
    """Why the artefacts a cell.json records differ from its files (empty when they match)."""
    recorded = record.get("artefacts")
    if not isinstance(recorded, dict) or PREDICTIONS_FILE not in recorded:
        return [f"{directory / CELL_FILE}: records no artefacts"]
    problems = []
    for name, expected in sorted(recorded.items()):
        problem = file_problem(directory / name, expected if isinstance(expected, dict) else {})
        if problem is not None:
            problems.append(problem)
    return problems


# ---- identity --------------------------------------------------------------------------------

IDENTITY = "tacfn-robust"  # the metadata entry of a cell's table that says whose it is
TABLES = (PREDICTIONS_FILE, RECORDS_FILE)  # a cell's tables, each recording its identity


def cell_identity(key: str, conditions: str | None) -> dict[str, str | None]:
    """Whose a cell's table is: the cell key and the hash of the test conditions it is for."""
    return {"cell": key, "conditions": conditions}


def table_identity(path: Path) -> dict[str, Any] | None:
    """The identity a table records (read from its footer), or None when it records none."""
    try:
        found = pd.read_parquet(path, columns=[]).attrs.get(IDENTITY)
    except (OSError, ValueError):  # pyarrow's ArrowInvalid is a ValueError
        return None
    return found if isinstance(found, dict) else None


def _identity_problem(
    path: Path, found: Mapping[str, Any] | None, key: str, conditions: Any
) -> str:
    expected = f"expected cell {key!r} under test conditions {conditions!r}"
    if found is None:
        return f"{path}: records no cell identity; {expected}"
    return (
        f"{path}: holds cell {found.get('cell')!r} under test conditions "
        f"{found.get('conditions')!r}; {expected}"
    )


def cell_problems(directory: Path, record: Mapping[str, Any], conditions: str | None) -> list[str]:
    """Why a done cell's directory does not hold the cell it is named for (its key) under the
    test conditions `conditions` (empty when it does): its cell.json names another cell or
    other conditions, an artefact differs from its checksum, or a table records another
    identity. Checksums alone cannot tell a file copied from another cell, identities can."""
    key = directory.name
    if record.get("key") != key:
        return [f"{directory / CELL_FILE}: records cell {record.get('key')!r}; expected {key!r}"]
    if record.get("conditions_hash") != conditions:
        return [
            f"{directory / CELL_FILE}: made for test conditions "
            f"{record.get('conditions_hash')!r}; expected {conditions!r}"
        ]
    problems = artefact_problems(directory, record)
    if problems:
        return problems
    expected = cell_identity(key, conditions)
    for name in TABLES:
        path = directory / name
        if name in record["artefacts"] and (found := table_identity(path)) != expected:
            problems.append(_identity_problem(path, found, key, conditions))
    return problems


# ---- typed run files -------------------------------------------------------------------------

SUMMARY_SCHEMA = "tacfn-robust/summary"
BASELINE_SCHEMA = "tacfn-robust/baseline"
FiniteFloat = Annotated[float, AllowInfNan(False)]


class RunFile(BaseModel):
    """The typed content of a run file or one of its entries: strict types, no unknown fields."""

    model_config = ConfigDict(extra="forbid", strict=True, protected_namespaces=())


File = TypeVar("File", bound=RunFile)


def field_problem(error: ValidationError) -> str:
    """The first problem of a validation as one line: `points[0].n: <what>, got <value>`."""
    first = error.errors()[0]
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
    where = where.lstrip(".") or "content"
    if first["type"] == "missing":
        return f"{where}: missing"
    if first["type"] == "extra_forbidden":
        return f"{where}: unknown field"
    got = json.dumps(first["input"], default=repr)
    got = got if len(got) <= 40 else f"{got[:35]}...{got[-2:]}"
    return f"{where}: {first['msg'][0].lower()}{first['msg'][1:]}, got {got}"


def read_record(path: str | os.PathLike[str], kind: type[File], remedy: str = "") -> File:
    """The typed content of a run file, or a DataError naming the file, its first wrong field
    and, when given, the `remedy`."""
    data = read_json(path, remedy)
    try:
        return kind.model_validate(data)
    except ValidationError as exc:
        problem = f"{path}: {field_problem(exc)}"
        raise DataError(f"{problem}; {remedy}" if remedy else problem) from None


def write_record(path: str | os.PathLike[str], record: RunFile) -> Path:
    """Write a run file from its typed content (NaN as null, aliases as the file's names)."""
    return write_json(path, record.model_dump(mode="json", by_alias=True))


class Artefact(RunFile):
    """An artefact's size and checksum as cell.json records it."""

    bytes: NonNegativeInt
    sha256: str


class DatasetLimits(RunFile):
    """cell.json `dataset_limits`: the data set's actors as built and what it could give."""

    actors: int | None
    max_actors: int | None
    max_clips_per_actor: int | None


class CellRecord(RunFile):
    """cell.json: one train cell, what it trained and evaluated, its timings and artefacts.

    The run keys and status are always there; the rest is null where the cell did not get
    that far (a failed cell) or the field does not apply (`traceback` unless failed,
    `checkpoint_source` unless evaluated from a given checkpoint).
    """

    key: str
    model: str
    regime: str
    seed: int
    fold: int
    status: Literal["done", "failed"]
    error: str | None = None
    traceback: str | None = None
    builds: str | None = None  # the model class name; `model` is the protocol entry's name
    options: dict[str, Any] | None = None
    protocol: str | None = None
    conditions_hash: str | None = None
    conditions: list[str] | None = None
    threads: int | None = None
    best_epoch: int | None = None
    legacy_max_test_acc: float | None = None
    train_seconds: float | None = None
    checkpoint_source: str | None = None
    modalities: list[str] | None = None
    num_classes: int | None = None
    class_names: list[str] | None = None
    task: str | None = None
    parameters: int | None = None
    eval_seconds: float | None = None
    seconds: float | None = None
    device: str | None = None
    n_train: int | None = None
    n_val: int | None = None
    n_test: int | None = None
    dataset_limits: DatasetLimits | None = None
    artefacts: dict[str, Artefact] | None = None


# summary.json: one model per section. A new section is one model here and one field of
# Summary; its writer (tacfn_robust.reports.rendering.summary) fills it.


class SummaryProtocol(RunFile):
    """The protocol a summary is of."""

    name: str | None
    description: str | None
    hash: str | None


class VarianceComponent(RunFile):
    """One variance component of a paired difference (metric units squared): its estimate
    (truncated at 0), interval and share of one unit's variance."""

    variance: float
    low: float | None
    high: float | None
    share: float | None


class DesignPrediction(RunFile):
    """The predicted SD of a design's fold-mean paired difference and its MDD, with intervals."""

    design: str
    seeds: int
    folds: int
    actors_per_fold: float
    clips_per_actor: float
    sd: float | None
    sd_low: float | None
    sd_high: float | None
    mdd: float | None
    mdd_low: float | None
    mdd_high: float | None


class DesignLimits(RunFile):
    """What the data set allows a design: its actors and clips per actor, and where from."""

    actors: int
    clips_per_actor: float
    source: str


class VarianceAccounting(RunFile):
    """Where a contrast's paired-difference variance comes from and what other designs would show
    (tacfn_robust.reports.statistics.accounting, docs/statistics.md); only `note` when not
    computed."""

    components: dict[str, VarianceComponent] | None = None
    seeds_per_fold: float | None = None
    folds: int | None = None
    clips_per_fold: float | None = None
    test_method: str | None = None
    interval_method: str | None = None
    notes: list[str] = Field(default_factory=list)
    designs: list[DesignPrediction] = Field(default_factory=list)
    floor: DesignPrediction | None = None
    limits: DesignLimits | None = None
    note: str | None = None


class SummaryContrast(RunFile):
    """One contrast (tacfn_robust.reports.statistics.contrasts) at clean, at one level or over a
    whole
    curve: the paired difference, its test within a stated Holm family, and the verdict."""

    contrast: str
    kind: Literal["model", "regime", "interaction"]
    question: str  # the question the contrast answers; names its Holm families
    a: str
    b: str
    within: str  # the regime (model contrasts), the model (regime contrasts), or r − s
    scope: Literal["clean", "level", "curve"]
    sweep: str
    condition: str  # "nauc" for a whole curve
    x: float | None
    metric: str
    family: str
    family_size: int
    n: int  # paired runs
    units: int  # runs, or fold means when clustered
    diff: float | None
    sd: float | None
    ci_low: float | None
    ci_high: float | None
    ci_method: str
    p: float | None
    p_holm: float | None
    margin: float
    p_equivalence: float | None  # TOST against ±margin, Holm within the same family
    verdict: Literal["better", "worse", "equivalent", "inconclusive"]
    mdd: float | None  # minimum detectable difference at 80 % power, first Holm step
    variance: VarianceAccounting | None  # where the paired difference's variance comes from


class SummaryBelowFloor(RunFile):
    """The first level from which a fusion model's mean stays below the unimodal floor."""

    model: str
    regime: str
    sweep: str
    missing: str
    floor: float
    x: float
    mean: float
    ci_low: float | None
    ci_high: float | None
    below: bool  # the whole interval is under the floor


class PaletteStyle(RunFile):
    """The colour and marker of a model in every figure."""

    color: str
    marker: str


class SummaryPoint(RunFile):
    """One curve point: a model x regime x condition mean over runs of one metric, with its CI."""

    model: str
    regime: str
    sweep: str
    condition: str
    corruption: str | None
    modality: str | None
    param: str | None
    value: float | None
    unit: str | None
    corruption2: str | None
    modality2: str | None
    param2: str | None
    value2: float | None
    unit2: str | None
    stage: str | None
    fill: str | None
    identity: bool | None
    metric: str
    realised: float | None
    mean: float | None
    std: float | None
    ci_low: float | None
    ci_high: float | None
    ci_method: str
    n: int  # runs
    n_samples: int  # test size summed over folds


class SummaryCurve(RunFile):
    """One curve measure (clean, nauc, ce, ...) of a model x regime x sweep, with its CI."""

    model: str
    regime: str
    sweep: str
    measure: str
    mean: float | None
    std: float | None
    ci_low: float | None
    ci_high: float | None
    ci_method: str
    n: int


class SummaryFloor(RunFile):
    """The unimodal floor of a sweep: the best model that never reads the missing modality."""

    regime: str
    sweep: str
    missing: str
    floor: float | None
    models: list[str]


class SummaryImprovement(RunFile):
    """The probability that model a scores above model b, with its CI."""

    model_a: str
    model_b: str
    probability: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    method: str


class SummaryFriedman(RunFile):
    """The Friedman test over independent blocks and its Nemenyi post-hoc p-values."""

    statistic: float | None
    p: float | None
    n_blocks: int
    models: list[str]
    mean_ranks: dict[str, float]
    nemenyi: dict[str, dict[str, float | None]]
    method: str


class SummaryFailedCell(RunFile):
    """A cell of the grid without predictions, and why."""

    key: str
    model: str
    regime: str
    seed: int | None
    fold: int | None
    error: str | None


class Summary(RunFile):
    """summary.json: a run's curve points, measures, contrasts and verdicts."""

    schema_id: Literal["tacfn-robust/summary"] = Field(SUMMARY_SCHEMA, alias="schema")
    version: Literal[2] = 2
    protocol: SummaryProtocol
    ci_level: float
    focus: str
    reference: str
    metric: str
    alpha: float  # 1 - ci_level: the level of every test and verdict
    margin: float  # the equivalence margin of every verdict
    contrasts: list[SummaryContrast]
    palette: dict[str, PaletteStyle]
    points: list[SummaryPoint]
    curves: list[SummaryCurve]
    floors: list[SummaryFloor]
    below_floor: list[SummaryBelowFloor]
    probability_of_improvement: list[SummaryImprovement]
    friedman: SummaryFriedman | None
    friedman_note: str | None  # why `friedman` is null
    failed_cells: list[SummaryFailedCell]


class BaselinePoint(RunFile):
    """A baseline's curve point: mean of the report metric over runs, run-to-run std, n."""

    model: str
    regime: str
    sweep: str
    condition: str
    value: FiniteFloat | None = None
    mean: FiniteFloat
    std: FiniteFloat | None
    n: PositiveInt
    n_samples: PositiveInt


class BaselineCurve(RunFile):
    """A baseline's curve nAUC: mean over runs, run-to-run std, n."""

    model: str
    regime: str
    sweep: str
    mean: FiniteFloat
    std: FiniteFloat | None
    n: PositiveInt


class BaselineFamily(RunFile):
    """Per curve, the std over runs of each run's mean over the curve's points."""

    model: str
    regime: str
    sweep: str
    n: PositiveInt
    run_mean_std: FiniteFloat | None


class Baseline(RunFile):
    """A baseline file: a run's curve points, nAUCs and run spread, with its protocol."""

    schema_id: Literal["tacfn-robust/baseline"] = Field(BASELINE_SCHEMA, alias="schema")
    version: Literal[1] = 1
    metric: str = "accuracy"
    protocol_name: str | None = None
    protocol_hash: str | None = None
    protocol: dict[str, Any] = Field(default_factory=dict)
    versions: dict[str, str | None] = Field(default_factory=dict)
    git_commit: str | None = None
    points: list[BaselinePoint] = Field(min_length=1)
    curves: list[BaselineCurve]
    families: list[BaselineFamily] = Field(default_factory=list)
