"""Stored artefacts bound to what they are: a checkpoint, predictions or records file of another
cell or of other test conditions, or a data-cache entry of other parameters, placed in the store
with its checksums updated, is a named damaged cell (report: one line, exit 2) that the next run
recomputes to the untampered results, never an internal error or a silent reuse.

Every run is the smoke protocol at a tiny size (two seeds of concat, one epoch)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from tacfn.core import store
from tacfn.data.synthetic import SynthConfig, generate, load_synthetic
from tacfn_robust.cli import main
from tacfn_robust.protocols import load_protocol, run_protocol
from tacfn_robust.protocols.planning import plan

DATA = "dataset={name: synthetic, actors: 4, folds: 2, frames: 4, size: 32, duration: 0.5}"
SETS = [DATA, "train.epochs=1", "models=[concat]", "seeds=[0, 1]"]
OLDER = [*SETS, "test.seed=1"]  # the same cells under another test sweep (other missing masks)


def _run(run_dir: Path, sets: list[str] = SETS) -> None:
    """Run (or resume) the tiny protocol into `run_dir`, without a report."""
    run_protocol(load_protocol("smoke", sets), run_dir, workers=1, report=False)


def _cells(run_dir: Path) -> dict[int, Path]:
    """Seed -> cell directory of a run."""
    return {
        json.loads((d / store.CELL_FILE).read_text())["seed"]: d
        for d in sorted(store.cells_root(run_dir).iterdir())
    }


def _predictions(run_dir: Path) -> dict[int, pd.DataFrame]:
    return {s: pd.read_parquet(d / store.PREDICTIONS_FILE) for s, d in _cells(run_dir).items()}


def _update_checksums(directory: Path) -> None:
    """Record the artefacts of a cell as they now are: the tampering a checksum cannot see."""
    path = directory / store.CELL_FILE
    cell = json.loads(path.read_text())
    cell["artefacts"] = store.artefacts(directory)
    path.write_text(json.dumps(cell))


def _stored_seeds(run_dir: Path, sets: list[str] = SETS) -> set[int]:
    """The seeds whose cells the runner would reuse (its plan's stored cells)."""
    return {c.seed for c in plan(load_protocol("smoke", sets), run_dir).done}


def _report_error(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    code = main(["report", str(run_dir)])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "internal error" not in err, err
    assert "rerun 'tacfn-robust run'" in err
    return err


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny run of two cells, and the same cells evaluated under an older test sweep."""
    root = tmp_path_factory.mktemp("identity")
    _run(root / "run")
    shutil.copytree(root / "run", root / "older")
    _run(root / "older", OLDER)  # re-evaluates the stored checkpoints, trains nothing
    return {"run": root / "run", "older": root / "older"}


@pytest.fixture
def run_dir(runs: dict[str, Path], sentinel: Path) -> Path:
    """A fresh copy of the tiny run in the working folder, to tamper with."""
    return Path(shutil.copytree(runs["run"], sentinel / "run"))


# ---- at the store: what the report and the runner's plan see, no training --------------------


def test_predictions_of_another_cell_are_a_named_damaged_cell(run_dir: Path, capsys) -> None:
    cells = _cells(run_dir)
    for name in (store.PREDICTIONS_FILE, store.RECORDS_FILE):
        shutil.copyfile(cells[0] / name, cells[1] / name)
    _update_checksums(cells[1])
    err = _report_error(run_dir, capsys)
    assert str(cells[1] / store.PREDICTIONS_FILE) in err
    assert f"holds cell {cells[0].name!r}" in err
    assert _stored_seeds(run_dir) == {0}


def test_records_of_another_cell_are_a_named_damaged_cell(run_dir: Path, capsys) -> None:
    cells = _cells(run_dir)
    shutil.copyfile(cells[0] / store.RECORDS_FILE, cells[1] / store.RECORDS_FILE)
    _update_checksums(cells[1])
    assert str(cells[1] / store.RECORDS_FILE) in _report_error(run_dir, capsys)
    assert _stored_seeds(run_dir) == {0}


def test_a_cell_json_of_another_cell_is_a_named_damaged_cell(run_dir: Path, capsys) -> None:
    cells = _cells(run_dir)
    shutil.copyfile(cells[0] / store.CELL_FILE, cells[1] / store.CELL_FILE)
    err = _report_error(run_dir, capsys)
    assert str(cells[1] / store.CELL_FILE) in err and cells[0].name in err
    assert _stored_seeds(run_dir) == {0}


def test_a_cell_restored_from_an_older_sweep_is_not_current(
    runs: dict[str, Path], run_dir: Path, capsys
) -> None:
    older = _cells(runs["older"])[1]
    target = _cells(run_dir)[1]
    assert older.name == target.name  # same training, so the same cell key
    shutil.rmtree(target)
    shutil.copytree(older, target)  # checksums consistent: the whole directory moved
    assert str(target / store.CELL_FILE) in _report_error(run_dir, capsys)
    assert _stored_seeds(run_dir) == {0}
    assert _stored_seeds(run_dir, OLDER) == {1}  # under its own sweep it is stored


def test_older_tables_under_a_current_cell_json_are_not_current(
    runs: dict[str, Path], run_dir: Path, capsys
) -> None:
    older = _cells(runs["older"])[1]
    target = _cells(run_dir)[1]
    for name in (store.PREDICTIONS_FILE, store.RECORDS_FILE):
        shutil.copyfile(older / name, target / name)
    _update_checksums(target)
    err = _report_error(run_dir, capsys)
    assert str(target / store.PREDICTIONS_FILE) in err and "test conditions" in err
    assert _stored_seeds(run_dir) == {0}


def test_tables_without_an_identity_are_recomputed(run_dir: Path, capsys) -> None:
    """A store written before tables recorded their identity: its cells are evaluated again."""
    cell = _cells(run_dir)[0]
    for name in (store.PREDICTIONS_FILE, store.RECORDS_FILE):
        table = pd.read_parquet(cell / name)
        table.attrs = {}
        table.to_parquet(cell / name, index=False)
    _update_checksums(cell)
    assert "records no cell identity" in _report_error(run_dir, capsys)
    assert _stored_seeds(run_dir) == {1}


def test_an_untampered_run_reports(runs: dict[str, Path], sentinel: Path, capsys) -> None:
    run_dir = Path(shutil.copytree(runs["older"], sentinel / "run"))
    assert _stored_seeds(run_dir, OLDER) == {0, 1}
    assert main(["report", str(run_dir)]) == 0, capsys.readouterr().err


def test_swapped_checkpoints_are_trained_again(run_dir: Path) -> None:
    before = _predictions(run_dir)
    cells = _cells(run_dir)
    swapped = run_dir / "swapped.pt"
    shutil.move(cells[0] / store.CHECKPOINT_FILE, swapped)
    shutil.move(cells[1] / store.CHECKPOINT_FILE, cells[0] / store.CHECKPOINT_FILE)
    shutil.move(swapped, cells[1] / store.CHECKPOINT_FILE)
    (cells[0] / store.PREDICTIONS_FILE).unlink()  # seed 0 is evaluated again from its checkpoint
    for cell in cells.values():
        _update_checksums(cell)
    _run(run_dir)
    pd.testing.assert_frame_equal(_predictions(run_dir)[0], before[0])
    weights = torch.load(cells[0] / store.CHECKPOINT_FILE, weights_only=True)
    assert weights["metadata"]["seed"] == 0 and weights["metadata"]["key"] == cells[0].name


class _Payload:
    """A pickle that runs code when unpickled in full: it creates the file `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(self.marker),))


def test_a_stored_checkpoint_that_would_run_code_is_never_unpickled(run_dir: Path) -> None:
    before = _predictions(run_dir)
    cells = _cells(run_dir)
    marker = run_dir / "PWNED"
    payload = torch.load(cells[0] / store.CHECKPOINT_FILE, weights_only=True)
    torch.save({**payload, "extra": _Payload(marker)}, cells[0] / store.CHECKPOINT_FILE)
    (cells[0] / store.PREDICTIONS_FILE).unlink()  # seed 0 is evaluated again from its checkpoint
    _update_checksums(cells[0])
    _run(run_dir)
    assert not marker.exists()  # read as weights only: refused, so the cell was trained again
    pd.testing.assert_frame_equal(_predictions(run_dir)[0], before[0])
    assert "extra" not in torch.load(cells[0] / store.CHECKPOINT_FILE, weights_only=True)


# ---- the data cache --------------------------------------------------------------------------


def test_a_cache_entry_of_another_seed_is_rebuilt(sentinel: Path) -> None:
    cache = str(sentinel / "cache")
    small = {"actors": 1, "frames": 2, "size": 16, "duration": 0.5, "sample_rate": 4000}
    other = load_synthetic(**small, seed=1, cache=cache)
    entry = Path(SynthConfig(**small, seed=0).cache_path(cache))
    shutil.copyfile(other.info.extra["cache_path"], entry)  # seed 1's data as seed 0's entry
    loaded = load_synthetic(**small, seed=0, cache=cache)
    assert not loaded.info.extra["cache_hit"]
    fresh = generate(SynthConfig(**small, seed=0))
    for modality in ("audio", "video"):
        assert torch.equal(loaded.inputs[modality], fresh[modality])
    again = load_synthetic(**small, seed=0, cache=cache)  # the entry was written again
    assert again.info.extra["cache_hit"]
    assert torch.equal(again.inputs["audio"], fresh["audio"])


def test_a_cache_entry_of_other_parameters_is_rebuilt(sentinel: Path) -> None:
    cache = str(sentinel / "cache")
    small = {"actors": 1, "frames": 2, "size": 16, "duration": 0.5, "sample_rate": 4000}
    other = load_synthetic(**{**small, "frames": 3}, cache=cache)
    entry = Path(SynthConfig(**small).cache_path(cache))
    shutil.copyfile(other.info.extra["cache_path"], entry)
    loaded = load_synthetic(**small, cache=cache)
    assert not loaded.info.extra["cache_hit"] and loaded.inputs["video"].shape[2] == 2


# ---- end to end: the next run recomputes every damaged cell to its untampered results --------


@pytest.mark.slow
def test_a_run_recomputes_tampered_cells_to_the_untampered_results(
    runs: dict[str, Path], run_dir: Path, capsys
) -> None:
    before = _predictions(run_dir)
    cells = _cells(run_dir)
    for name in (store.PREDICTIONS_FILE, store.RECORDS_FILE):  # seed 0's tables under seed 1
        shutil.copyfile(cells[0] / name, cells[1] / name)
    _update_checksums(cells[1])
    shutil.rmtree(cells[0])  # seed 0 restored from the older sweep
    shutil.copytree(_cells(runs["older"])[0], cells[0])
    assert (
        main(["run", "smoke", "--out", str(run_dir), *(a for s in SETS for a in ("--set", s))]) == 0
    )
    after = _predictions(run_dir)
    for seed, frame in before.items():
        pd.testing.assert_frame_equal(after[seed], frame)
    capsys.readouterr()
    assert main(["report", str(run_dir)]) == 0, capsys.readouterr().err
