"""The run store's contract: the one definition of a run directory, for its writer and readers.

The protocol runner writes a run directory and the reports read it, both through this module:
the layout and file names, the lock names, the condition and sweep id formats, the columns of
predictions.parquet and records.parquet, the artefact checksums of cell.json, and one JSON
reader. A missing or damaged file read here is a DataError naming the path and what was
expected; a caller that tolerates absence checks for the file first. Every write goes through
tacfn.core.io's atomic writer.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from tacfn.core.errors import DataError
from tacfn.core.io import atomic_write, describe_file, file_problem
from tacfn.core.io import write_json as write_json  # the JSON writer of the pair with read_json

# ---- layout ----------------------------------------------------------------------------------

PROTOCOL_FILE = "protocol.json"  # the validated protocol, its hash, versions and grid
PROTOCOL_YAML = "protocol.yaml"  # the validated protocol, defaults filled
SUMMARY_FILE = "summary.json"  # every curve point with its CI (reports.rendering.summary)
RESULTS_PARQUET = "results.parquet"  # the tidy metrics table (reports.scoring.table)
RESULTS_CSV = "results.csv"
REPORT_DIR = "report"  # report.html and the PNG figures
REPORT_FILE = "report.html"
RUN_LOCK = ".run.lock"  # one run at a time in a run directory
REPORT_LOCK = ".report.lock"  # report builds of a run directory serialise
# protocol.json fields that change only what the report says of the same predictions: left
# out of the protocol hash (protocols.loading) and of the gate's protocol diff.
REPORT_ONLY_FIELDS = {"report": frozenset({"contrasts", "margin"})}
ROOT_FILES = (PROTOCOL_FILE, PROTOCOL_YAML)  # what the runner writes at the top
REPORT_FILES = (RESULTS_PARQUET, RESULTS_CSV, SUMMARY_FILE)  # what a report build writes there

CELL_FILE = "cell.json"
PREDICTIONS_FILE = "predictions.parquet"
RECORDS_FILE = "records.parquet"
CHECKPOINT_FILE = "checkpoint.pt"
LOG_FILE = "train_log.csv"
ARTEFACTS = (CHECKPOINT_FILE, LOG_FILE, PREDICTIONS_FILE, RECORDS_FILE)


def cells_root(run_dir: str | os.PathLike[str]) -> Path:
    """`<run_dir>/store/cells`: one directory per trained model, named by its key."""
    return Path(run_dir) / "store" / "cells"


def cell_dir(run_dir: str | os.PathLike[str], key: str) -> Path:
    return cells_root(run_dir) / key


def report_dir(run_dir: str | os.PathLike[str]) -> Path:
    return Path(run_dir) / REPORT_DIR


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
    """One sweep point, e.g. missing[audio].p=0.4."""
    return f"{sweep}={value:g}"


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


def write_parquet(path: str | os.PathLike[str], frame: pd.DataFrame) -> Path:
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
