"""Real runs under faults: damaged artefacts recomputed, concurrent runs, Ctrl-C, a full disk,
RAVDESS files skipped and listed. Every run is the smoke protocol at a tiny size."""

from __future__ import annotations

import errno
import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from processes import CLI, children

from tacfn.core import io, store
from tacfn_robust.cli import main

pytestmark = pytest.mark.slow

DATA = "dataset={name: synthetic, actors: 4, folds: 2, frames: 4, size: 32, duration: 0.5}"
TINY = ["--set", DATA, "--set", "train.epochs=1", "--set", "models=[concat]"]
TWO = [*TINY, "--set", "seeds=[0, 1]"]


def _predictions(run_dir: Path) -> dict[str, pd.DataFrame]:
    return {
        p.parent.name: pd.read_parquet(p)
        for p in sorted(store.cells_root(run_dir).glob(f"*/{store.PREDICTIONS_FILE}"))
    }


def test_damaged_cells_are_named_then_recomputed_bit_identically(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    assert main(["run", "smoke", "--out", str(run_dir), *TWO]) == 0
    before = _predictions(run_dir)
    first, second = sorted(before)
    truncated = store.cell_dir(run_dir, first) / store.PREDICTIONS_FILE
    truncated.write_bytes(truncated.read_bytes()[:100])
    (store.cell_dir(run_dir, second) / store.CELL_FILE).write_bytes(os.urandom(50) + b"\xff")
    capsys.readouterr()
    assert main(["report", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "internal error" not in err and (str(truncated) in err or second in err)
    assert main(["run", "smoke", "--out", str(run_dir), *TWO]) == 0
    after = _predictions(run_dir)
    for key, frame in before.items():
        pd.testing.assert_frame_equal(after[key], frame)
    cells = [
        json.loads(p.read_text()) for p in store.cells_root(run_dir).glob(f"*/{store.CELL_FILE}")
    ]
    assert {c["status"] for c in cells} == {"done"} and all("artefacts" in c for c in cells)
    (store.cell_dir(run_dir, first) / store.PREDICTIONS_FILE).unlink()
    assert main(["run", "smoke", "--out", str(run_dir), *TWO]) == 0
    pd.testing.assert_frame_equal(_predictions(run_dir)[first], before[first])


def test_two_runs_into_one_directory_never_train_a_cell_twice(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    command = [CLI, "run", "smoke", "--out", str(run_dir), *TWO]
    runs = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(r.wait(timeout=900), r.stderr.read() if r.stderr else "") for r in runs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    assert "another process" in loser and "is running a protocol" in loser
    assert len(list(store.cells_root(run_dir).glob(f"*/{store.CELL_FILE}"))) == 2
    assert not list(run_dir.rglob(".*.tmp"))


def test_ctrl_c_prints_the_resume_command_and_stops_pool_workers(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    long = [*TINY, "--set", "seeds=[0, 1, 2, 3]", "--set", "train.epochs=40"]
    command = [CLI, "run", "smoke", "--out", str(run_dir), "--workers", "2", *long]
    run = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    workers: set[int] = set()
    while time.monotonic() < deadline and len(workers) < 2:
        time.sleep(1.0)
        workers = {c for c in children(run.pid) if b"spawn_main" in _cmdline(c)}
    assert len(workers) >= 2, "the pool never started"
    time.sleep(3.0)  # the workers are inside their first cells
    os.kill(run.pid, signal.SIGINT)
    interrupted = time.monotonic()
    _, err = run.communicate(timeout=60)
    assert run.returncode == 130, err
    assert time.monotonic() - interrupted < 20
    line = next(x for x in err.splitlines() if x.startswith("interrupted:"))
    assert f"cells saved in {run_dir}" in line
    time.sleep(2.0)
    assert not [w for w in workers if Path(f"/proc/{w}").exists()]
    resume = shlex.split(line.split("resume with: ", 1)[1])
    assert resume[:3] == ["tacfn-robust", "run", "smoke"] and "--out" in resume
    assert main([*resume[1:], "--set", "train.epochs=1"]) == 0


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_a_full_disk_stops_the_run_and_a_rerun_completes(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    run_dir = tmp_path / "run"
    calls = {"n": 0}
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] >= 3:  # protocol.yaml and protocol.json fit; the cell's first file not
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(io.os, "fsync", fsync)
    no_sweeps = [*TINY, "--set", "seeds=[0]", "--set", "test.sweeps=[]", "--workers", "1"]
    assert main(["run", "smoke", "--out", str(run_dir), *no_sweeps]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: {store.cells_root(run_dir)}/") and "no space left" in err
    assert not list(run_dir.rglob(".*.tmp")) and not list(run_dir.rglob(store.CELL_FILE))
    monkeypatch.undo()
    assert main(["run", "smoke", "--out", str(run_dir), *no_sweeps]) == 0
    summary = json.loads((run_dir / store.SUMMARY_FILE).read_text())
    assert summary and (store.report_dir(run_dir) / store.REPORT_FILE).is_file()


def test_misnamed_and_broken_media_are_skipped_and_listed(tmp_path: Path) -> None:
    from tacfn.core.errors import DataError
    from tacfn.data import build_dataset
    from tacfn.data.export import export_ravdess
    from tacfn.data.synthetic import load_synthetic
    from tacfn_robust.protocols.loading import validate
    from tacfn_robust.protocols.planning import Plan
    from tacfn_robust.protocols.provenance import write_protocol_files

    source = load_synthetic(
        actors=1, duration=0.5, frames=4, size=32, sample_rate=8000, seed=1, use_cache=False
    )
    root = tmp_path / "ravdess"
    files = export_ravdess(source, root)
    for extra in files[4:]:
        extra.unlink()
    shutil.copy(files[0], root / "Actor_01" / "clip $1.mp4")
    settings = dict(frames=4, size=32, sample_rate=8000, offset=0.0, duration=0.5)
    with pytest.raises(DataError, match=r"clip \$1.mp4"):
        build_dataset("ravdess", path=str(root), use_cache=False, **settings)
    options = {**settings, "use_cache": False, "on_error": "skip"}
    data = build_dataset("ravdess", path=str(root), **options)
    assert len(data) == 4 and len(data.skipped) == 1 and "clip $1.mp4" in data.skipped[0]
    protocol = validate(
        {
            "name": "r",
            "models": ["concat"],
            "dataset": {"name": "ravdess", "path": str(root), "options": options},
        },
        "r.yaml",
    )
    record = write_protocol_files(Plan(protocol, tmp_path / "run", [], {}, [], set()))
    assert record["skipped"] == data.skipped
    assert (
        json.loads((tmp_path / "run" / store.PROTOCOL_FILE).read_text())["skipped"] == data.skipped
    )
