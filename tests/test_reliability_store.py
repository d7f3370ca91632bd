"""Damaged run directories, full disks, locks and hostile labels, without training a model:
every damaged or missing artefact is named with exit 2, and a full disk stops with its path."""

from __future__ import annotations

import errno
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import torch
from test_reports_sim import simulate_run

from tacfn.core import io, store
from tacfn_robust.cli import main
from tacfn_robust.protocols.cell_task import is_stored
from tacfn_robust.protocols.rerun_policy import recorded


def _sim(root: Path, **kwargs) -> Path:
    """A simulated run whose cell.json files record their artefacts, as the runner's do."""
    simulate_run(root, models=["concat", "tacfn"], seeds=[0, 1], n_samples=60, **kwargs)
    for path in store.cells_root(root).glob(f"*/{store.CELL_FILE}"):
        cell = json.loads(path.read_text())
        cell["artefacts"] = store.artefacts(path.parent)
        path.write_text(json.dumps(cell))
    return root


def _a_cell(root: Path) -> Path:
    return sorted(store.cells_root(root).glob(f"*/{store.CELL_FILE}"))[0].parent


def _report_error(root: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["report", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "internal error" not in err, err
    return err


# ---- damaged artefacts: named by `report` with exit 2 -------------------------------------


def test_random_bytes_in_cell_json_are_named(tmp_path: Path, capsys) -> None:
    cell = _a_cell(_sim(tmp_path / "run"))
    (cell / store.CELL_FILE).write_bytes(os.urandom(64) + b"\xff\xfe")
    err = _report_error(tmp_path / "run", capsys)
    assert str(cell / store.CELL_FILE) in err and "damaged" in err


def test_random_bytes_in_protocol_json_are_named(tmp_path: Path, capsys) -> None:
    root = _sim(tmp_path / "run")
    (root / store.PROTOCOL_FILE).write_bytes(b"\x80\x81" + os.urandom(64))
    assert str(root / store.PROTOCOL_FILE) in _report_error(root, capsys)


def test_a_json_list_instead_of_an_object_is_named(tmp_path: Path, capsys) -> None:
    cell = _a_cell(_sim(tmp_path / "run"))
    (cell / store.CELL_FILE).write_text("[1, 2]")
    assert str(cell / store.CELL_FILE) in _report_error(tmp_path / "run", capsys)


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete"])
def test_a_damaged_predictions_file_is_named(tmp_path: Path, capsys, damage: str) -> None:
    cell = _a_cell(_sim(tmp_path / "run"))
    path = cell / store.PREDICTIONS_FILE
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        path.write_bytes(data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])
    else:
        path.unlink()
    err = _report_error(tmp_path / "run", capsys)
    assert str(path) in err and "rerun 'tacfn-robust run'" in err


def test_a_truncated_parquet_without_checksums_is_still_named(tmp_path: Path, capsys) -> None:
    root = tmp_path / "run"
    simulate_run(root, models=["concat", "tacfn"], seeds=[0], n_samples=40)
    path = _a_cell(root) / store.PREDICTIONS_FILE
    path.write_bytes(path.read_bytes()[:200])
    err = _report_error(root, capsys)
    assert str(path) in err and "not a readable parquet file" in err


def test_a_damaged_train_log_is_named(tmp_path: Path, capsys) -> None:
    cell = _a_cell(_sim(tmp_path / "run"))
    (cell / store.LOG_FILE).write_text("epoch\n")
    assert str(cell / store.LOG_FILE) in _report_error(tmp_path / "run", capsys)


# ---- the runner treats a damaged cell as not stored --------------------------------------


def _stored_cell(tmp_path: Path) -> tuple[Path, dict]:
    directory = tmp_path / "cell"
    directory.mkdir()
    table = pd.DataFrame({"sample_id": ["s0"], "pred": [1]})
    identity = store.cell_identity("cell", "h")
    store.write_parquet(directory / store.PREDICTIONS_FILE, table, identity)
    io.write_bytes(directory / store.CHECKPOINT_FILE, b"weights")
    record = {
        "key": "cell",
        "status": "done",
        "conditions_hash": "h",
        "artefacts": store.artefacts(directory),
    }
    return directory, record


def test_a_cell_counts_as_stored_only_while_its_artefacts_match(tmp_path: Path) -> None:
    directory, record = _stored_cell(tmp_path)
    assert is_stored(record, "h", directory)
    assert not is_stored(record, "other conditions", directory)
    (directory / store.CHECKPOINT_FILE).write_bytes(b"weightX")  # same size
    assert not is_stored(record, "h", directory)


def test_a_deleted_artefact_or_an_unrecorded_cell_is_not_stored(tmp_path: Path) -> None:
    directory, record = _stored_cell(tmp_path)
    (directory / store.CHECKPOINT_FILE).unlink()
    assert store.artefact_problems(directory, record) == [
        f"{directory / store.CHECKPOINT_FILE}: missing"
    ]
    assert not is_stored(record, "h", directory)
    assert not is_stored({"status": "done", "conditions_hash": "h"}, "h", directory)


def test_random_bytes_in_a_cell_json_read_as_not_stored(tmp_path: Path) -> None:
    (tmp_path / store.CELL_FILE).write_bytes(b"\xff\xfe\x00garbage")
    assert recorded(tmp_path / store.CELL_FILE) is None


# ---- atomic writes: permissions, full disks, temporaries ---------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_written_files_follow_the_umask(tmp_path: Path, umask: int) -> None:
    before = os.umask(umask)
    try:
        path = io.write_json(tmp_path / store.SUMMARY_FILE, {"a": 1})
    finally:
        os.umask(before)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def _enospc(*_args: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_names_the_path_and_leaves_no_temporary(tmp_path: Path, monkeypatch) -> None:
    io.write_text(tmp_path / store.RESULTS_CSV, "old\n")
    monkeypatch.setattr(io.os, "fsync", _enospc)
    with pytest.raises(io.DiskFull, match=r"results.csv: no space left on device"):
        io.write_text(tmp_path / store.RESULTS_CSV, "new\n")
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]
    assert (tmp_path / store.RESULTS_CSV).read_text() == "old\n"


def test_torch_save_on_a_full_disk_is_disk_full(tmp_path: Path) -> None:
    class FullDisk:
        """A file that accepts the first bytes, then fails as a full disk does."""

        def __init__(self, handle) -> None:
            self.handle, self.written = handle, 0

        def write(self, data: bytes) -> int:
            self.written += len(data)
            if self.written > 1000:
                _enospc()
            return self.handle.write(data)

        def flush(self) -> None:
            self.handle.flush()

    payload = {"w": torch.zeros(10_000)}
    with pytest.raises(io.DiskFull, match="checkpoint.pt: no space left"):
        io.atomic_write(
            tmp_path / store.CHECKPOINT_FILE, lambda f: torch.save(payload, FullDisk(f))
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_report_outputs_are_written_atomically_and_old_temporaries_cleaned(
    tmp_path: Path, monkeypatch
) -> None:
    from tacfn_robust.reports.build import build_report

    root = _sim(tmp_path / "run")
    (root / ".summary.json.killed.tmp").write_text("{")
    (store.report_dir(root)).mkdir()
    (store.report_dir(root) / ".report.html.killed.tmp").write_text("<")
    monkeypatch.setattr(io.os, "fsync", _enospc)
    with pytest.raises(io.DiskFull, match="no space left"):
        build_report(root)
    monkeypatch.undo()
    assert not list(root.glob(".*.tmp")) and not (root / store.RESULTS_CSV).exists()
    build_report(root)
    assert json.loads((root / store.SUMMARY_FILE).read_text())
    assert not list(root.rglob(".*.tmp"))


# ---- labels from data ---------------------------------------------------------------------


@pytest.mark.slow
def test_dollar_signs_in_names_and_classes_do_not_break_figures(tmp_path: Path) -> None:
    from tacfn_robust.reports.build import build_report

    root = _sim(tmp_path / "run", name="r$x^{$", values=[0.0, 1.0])
    for path in store.cells_root(root).glob(f"*/{store.CELL_FILE}"):
        cell = json.loads(path.read_text())
        cell["class_names"] = [f"$\\frac{{{name}" for name in cell["class_names"]]
        path.write_text(json.dumps(cell))
    html = build_report(root).read_text()
    assert "class_scores_worst" in html and list((store.report_dir(root)).glob("*.png"))


def test_no_sweeps_reports_clean_results(tmp_path: Path, capsys) -> None:
    root = _sim(tmp_path / "run", values=[])
    record = json.loads((root / store.PROTOCOL_FILE).read_text())
    record["protocol"]["test"]["sweeps"] = []
    (root / store.PROTOCOL_FILE).write_text(json.dumps(record))
    assert main(["report", str(root)]) == 0
    summary = json.loads((root / store.SUMMARY_FILE).read_text())
    assert summary and "internal error" not in capsys.readouterr().err


@pytest.mark.slow
def test_skipped_media_files_are_listed_in_the_report(tmp_path: Path) -> None:
    from tacfn_robust.reports.build import build_report

    root = _sim(tmp_path / "run")
    record = json.loads((root / store.PROTOCOL_FILE).read_text())
    record["skipped"] = ["Actor_01/not-a-ravdess-name.mp4: expected a RAVDESS name"]
    (root / store.PROTOCOL_FILE).write_text(json.dumps(record))
    assert "Actor_01/not-a-ravdess-name.mp4" in build_report(root).read_text()


# ---- locks ----------------------------------------------------------------------------------

HOLD = textwrap.dedent(
    f"""
    import sys, time
    from tacfn.core.io import directory_lock
    with directory_lock(sys.argv[1], {store.RUN_LOCK!r}, wait=False, what="running a protocol"):
        print("held", flush=True)
        time.sleep(60)
    """
)


def _holder(directory: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(directory)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


@pytest.mark.slow
def test_a_second_run_into_a_locked_directory_exits_2(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    holder = _holder(run_dir)
    try:
        small = ["--set", "dataset={name: synthetic, actors: 4, folds: 2, frames: 4, size: 32}"]
        assert main(["run", "smoke", "--out", str(run_dir), *small]) == 2
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert f"another process (pid {holder.pid}) is running a protocol" in err
    assert not (run_dir / store.PROTOCOL_FILE).exists()
    assert not store.cells_root(run_dir).parent.exists()


def test_a_killed_holder_never_blocks_the_next_run(tmp_path: Path) -> None:
    holder = _holder(tmp_path)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with io.directory_lock(tmp_path, store.RUN_LOCK, wait=False, what="running a protocol"):
        pass


# ---- run options checked before anything is written -----------------------------------------


def test_a_bad_executor_leaves_no_directory(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["run", "smoke", "--out", str(out), "--executor", "slurm"]) == 2
    assert "'slurm' is not one of 'local', 'dask'" in capsys.readouterr().err
    assert not out.exists()


def test_an_unusable_out_is_named(tmp_path: Path, capsys) -> None:
    out = tmp_path / "a-file"
    out.write_text("not a directory")
    tiny = "dataset={name: synthetic, actors: 4, folds: 2, frames: 4, size: 32, duration: 0.5}"
    assert main(["run", "smoke", "--out", str(out / "run"), "--set", tiny]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == f"run directory: {out / 'run'}"
    assert err[-1].startswith(f"error: run directory {out / 'run'}: cannot create it")
    assert main(["run", "smoke", "--out", str(out), "--set", tiny]) == 2
    assert "exists and is not a directory" in capsys.readouterr().err


# ---- pickles ----------------------------------------------------------------------------------


class _Payload:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickles_are_never_loaded_by_validate_or_dry_run(tmp_path: Path, capsys) -> None:
    marker = tmp_path / "code-ran"
    data = tmp_path / "data.pkl"
    data.write_bytes(pickle.dumps({"train": _Payload(marker), "valid": {}, "test": {}}))
    dataset = f"dataset={{name: mult_pickle, path: {data}}}"
    assert main(["protocols", "validate", "iemocap_missing", "--set", dataset]) == 2
    assert "trust_pickle" in capsys.readouterr().err
    trusted = ["--set", dataset, "--set", "dataset.options={trust_pickle: true}"]
    assert main(["protocols", "validate", "iemocap_missing", *trusted]) == 0
    out = tmp_path / "run"
    assert main(["run", "iemocap_missing", "--out", str(out), "--dry-run", *trusted]) == 0
    assert not marker.exists() and not out.exists()


def test_the_loader_refuses_a_pickle_without_trust(tmp_path: Path) -> None:
    from tacfn.core.errors import ConfigError
    from tacfn.data import build_dataset

    marker = tmp_path / "code-ran"
    data = tmp_path / "data.pkl"
    data.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ConfigError, match="trust_pickle"):
        build_dataset("mult_pickle", path=str(data))
    assert not marker.exists()


def test_resume_ignores_unrelated_files(tmp_path: Path) -> None:
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "keep.parquet")
    (tmp_path / ".keep.parquet.abc.tmp").write_text("partial")
    (tmp_path / ".notes.txt").write_text("user file")
    assert io.remove_temporaries(tmp_path, ("keep.parquet",)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".notes.txt", "keep.parquet"]


# ---- interrupts -------------------------------------------------------------------------------


def test_ctrl_c_in_a_run_prints_what_was_saved_and_the_resume_command(
    tmp_path: Path, capsys, monkeypatch
) -> None:

    from tacfn_robust import protocols
    from tacfn_robust.protocols.runner import RunInterrupted

    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise RunInterrupted(tmp_path / "my run", 1, 4)

    monkeypatch.setattr(protocols, "run_protocol", interrupted)
    assert main(["run", "smoke", "--set", "seeds=[0, 1]", "--workers", "2"]) == 130
    err = capsys.readouterr().err.strip()
    assert err == (
        f"interrupted: 1 of 4 cells saved in {tmp_path / 'my run'}; resume with: tacfn-robust "
        f"run smoke --set 'seeds=[0, 1]' --out '{tmp_path / 'my run'}' --workers 2"
    )


def test_ctrl_c_in_any_command_is_reported(tmp_path: Path, capsys, monkeypatch) -> None:
    import tacfn_robust.reports.build

    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(tacfn_robust.reports.build, "build_report", interrupted)
    assert main(["report", str(tmp_path)]) == 130
    assert "interrupted; rerun the same command to resume" in capsys.readouterr().err


@pytest.mark.slow
def test_a_stopped_pool_terminates_its_running_workers() -> None:
    import time

    from tacfn_robust.protocols.executors import PoolExecutor

    pool = PoolExecutor(2)
    results = pool.run(time.sleep, [(0.0,), (600.0,), (600.0,)])
    assert next(results) is None
    started = time.monotonic()
    results.close()  # what Ctrl-C, --fail-fast or a raising cell do to the loop
    pool.close()
    assert time.monotonic() - started < 10
