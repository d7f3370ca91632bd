"""Hostile paths (issue 26, items 1 and 5): the toolkit writes and deletes only inside a run
directory it created or recognises, never through a symbolic link, never over a file it did not
write; every operating-system error a user can cause is one line naming the path, exit 2.

Every case runs in the `sentinel` working folder: links point at `sentinel.parent / "outside"`,
and the fixture fails the case when anything outside the working folder changes.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest
from test_reports_sim import simulate_run

from tacfn.core import io, store
from tacfn_robust.cli import main

STORE = "store"  # the run directory's folder of cells
TINY = [
    "--workers",
    "1",
    "--set",
    "dataset={name: synthetic, actors: 4, folds: 2, frames: 4, size: 32, duration: 0.5}",
    "--set",
    "models=[concat]",
    "--set",
    "seeds=[0]",
    "--set",
    "train.epochs=1",
    "--set",
    "test.sweeps=[]",
]  # one cell of one epoch: the cases refuse before it trains


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated run directory with its report built and a baseline beside it."""
    from tacfn_robust.reports.build import build_report, save_baseline

    root = tmp_path_factory.mktemp("built") / "run"
    simulate_run(root, models=["concat", "tacfn"], seeds=[0, 1], n_samples=40, values=[0.0, 1.0])
    build_report(root)
    save_baseline(root, root.parent / "baseline.json")
    return root


def _copy(built: Path, work: Path) -> Path:
    """The built run copied into the working folder (with its baseline beside it)."""
    shutil.copy(built.parent / "baseline.json", work / "baseline.json")
    return Path(shutil.copytree(built, work / "run"))


def _error(argv: list[str], capsys: pytest.CaptureFixture[str], *named: object) -> str:
    """Run the CLI: exit 2 and one error line on stderr (after the run's announcement of its
    directory, if it got that far) that names each of `named`."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if not line.startswith("run directory: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for name in named:
        assert str(name) in lines[0], (name, err)
    return lines[0]


def _snapshot(root: Path) -> dict[str, bytes]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): p.read_bytes() for p in files}


def _a_cell(root: Path) -> Path:
    return sorted(store.cells_root(root).iterdir())[0]


def _outside(sentinel: Path) -> Path:
    return sentinel.parent / "outside"


# ---- the run directory: new, empty, or recognised ---------------------------------------


def test_run_into_a_folder_of_user_files_is_refused(sentinel: Path, capsys) -> None:
    mine = sentinel / "mine"
    (mine / "report").mkdir(parents=True)
    (mine / "holiday.png").write_bytes(b"\x89PNG holiday")
    (mine / "report" / "holiday.png").write_bytes(b"\x89PNG holiday")
    (mine / store.SUMMARY_FILE).write_text('{"mine": true}\n')
    (mine / store.RESULTS_CSV).write_text("my,table\n")
    before = _snapshot(mine)
    err = _error(["run", "smoke", "--out", mine, *TINY], capsys, mine, "not a run directory")
    assert "'holiday.png'" in err
    assert _snapshot(mine) == before and sorted(os.listdir(mine)) == sorted(
        ["holiday.png", "report", store.SUMMARY_FILE, store.RESULTS_CSV]
    )


def test_a_dry_run_into_a_folder_of_user_files_says_so(sentinel: Path, capsys) -> None:
    (sentinel / "mine").mkdir()
    (sentinel / "mine" / "notes.txt").write_text("mine\n")
    _error(["run", "smoke", "--out", "mine", "--dry-run"], capsys, "mine", "not a run directory")


def test_what_a_run_may_write_is_new_empty_or_a_run_directory(sentinel: Path) -> None:
    assert store.check_run_dir("new") == Path("new")
    (sentinel / "empty").mkdir()
    store.check_run_dir("empty")
    killed = sentinel / "killed"  # a run killed before protocol.json: its lock and a temporary
    killed.mkdir()
    (killed / store.RUN_LOCK).write_text("123\n")
    (killed / f".{store.PROTOCOL_FILE}.x1y2.tmp").write_text("{")
    store.check_run_dir(killed)
    store.check_run_dir(simulate_run(sentinel / "run", models=["concat"], seeds=[0], values=[]))


def test_an_output_field_that_leaves_the_working_directory_is_refused(
    sentinel: Path, capsys
) -> None:
    for output in ("../escaped_run", "/tmp/escaped_run", "runs/../../escaped_run"):
        argv = ["run", "smoke", "--set", f"output={output}", "--dry-run"]
        _error(argv, capsys, output, "leaves the working directory")
        _error(["protocols", "validate", "smoke", "--set", f"output={output}"], capsys, output)
    assert not (sentinel.parent / "escaped_run").exists()


# ---- links inside a run directory are never followed -------------------------------------


@pytest.mark.parametrize("name", [store.RUN_LOCK, STORE])
def test_run_refuses_a_link_in_its_directory(sentinel: Path, capsys, name: str) -> None:
    run = sentinel / "run"
    simulate_run(run, models=["concat"], seeds=[0], values=[])
    target = _outside(sentinel) / store.SUMMARY_FILE if name == store.RUN_LOCK else None
    if target is None:
        target = _outside(sentinel) / "photos"
        shutil.rmtree(run / STORE)
    else:
        (run / name).unlink(missing_ok=True)
    (run / name).symlink_to(target)
    _error(["run", "smoke", "--out", run, *TINY], capsys, run / name, "symbolic link")


@pytest.mark.parametrize("kind", ["link", "file"])
def test_run_refuses_a_cell_folder_that_is_a_link_or_a_file(sentinel: Path, capsys, kind) -> None:
    from tacfn_robust.protocols import load_protocol
    from tacfn_robust.protocols.planning import plan

    run = sentinel / "run"
    sets = [TINY[i + 1] for i, flag in enumerate(TINY) if flag == "--set"]
    key = next(iter(plan(load_protocol("smoke", sets), run).keys.values()))
    simulate_run(run, models=["concat"], seeds=[0], values=[])
    cell = store.cells_root(run) / key
    if kind == "link":
        cell.symlink_to(_outside(sentinel) / "photos")
    else:
        cell.write_text("not a folder")
    said = "symbolic link" if kind == "link" else "not a directory"
    _error(["run", "smoke", "--out", run, *TINY], capsys, cell, said)


@pytest.mark.parametrize("name", [store.REPORT_LOCK, store.REPORT_DIR])
def test_report_refuses_a_link_in_its_directory(sentinel: Path, built: Path, capsys, name) -> None:
    run = _copy(built, sentinel)
    if (run / name).is_dir():
        shutil.rmtree(run / name)
    (run / name).unlink(missing_ok=True)
    target = _outside(sentinel) / (store.SUMMARY_FILE if name == store.REPORT_LOCK else "")
    (run / name).symlink_to(target)
    _error(["report", run], capsys, run / name, "symbolic link")


def test_report_refuses_a_linked_cell_folder(sentinel: Path, built: Path, capsys) -> None:
    run = _copy(built, sentinel)
    cell = _a_cell(run)
    shutil.copytree(cell, _outside(sentinel) / "cell")
    shutil.rmtree(cell)
    cell.symlink_to(_outside(sentinel) / "cell")
    try:
        _error(["report", run], capsys, cell, "symbolic link")
    finally:  # the copy was this test's own write outside; the sentinel checks the rest
        cell.unlink()
        shutil.rmtree(_outside(sentinel) / "cell")


def test_a_rebuild_deletes_only_its_own_figures(sentinel: Path, built: Path) -> None:
    from tacfn_robust.reports.build import FIGURES, build_report

    run = _copy(built, sentinel)
    report = store.report_dir(run)
    (report / "holiday.png").write_bytes(b"\x89PNG holiday")
    (report / "curve_stale.png").write_bytes(b"\x89PNG an old figure")
    build_report(run)
    assert (report / "holiday.png").read_bytes() == b"\x89PNG holiday"
    assert not (report / "curve_stale.png").exists() and list(report.glob("curve_*.png"))
    figures = {p.name for p in report.glob("*.png")} - {"holiday.png"}
    assert figures == {p.name for name in FIGURES for p in report.glob(name)}  # all deletable


# ---- outputs a user asks for never replace a run's own files -----------------------------


@pytest.mark.parametrize(
    "own",
    [
        store.PROTOCOL_FILE,
        f"{STORE}/cells/CELL/{store.CELL_FILE}",
        store.SUMMARY_FILE,
        f"{store.REPORT_DIR}/{store.REPORT_FILE}",
    ],
)
@pytest.mark.parametrize("command", ["check --junit", "baseline save", "export"])
def test_outputs_never_replace_a_run_s_own_files(
    sentinel: Path, built: Path, capsys, own: str, command: str
) -> None:
    run = _copy(built, sentinel)
    target = run / own.replace("CELL", _a_cell(run).name)
    before = _snapshot(run)
    argv = {
        "check --junit": ["check", run, "--baseline", "baseline.json", "--junit", target],
        "baseline save": ["baseline", "save", run, target],
        "export": ["export", run, "--format", "csv", "--out", target],
    }[command]
    _error(argv, capsys, target, "own")
    assert _snapshot(run) == before


def test_a_comparison_is_never_written_into_a_run_s_store(sentinel: Path, built: Path, capsys):
    run = _copy(built, sentinel)
    before = _snapshot(run)
    _error(["compare", run, run, "--out", run / STORE], capsys, run / STORE, "own")
    assert _snapshot(run) == before


def test_an_output_linked_into_a_run_is_refused(sentinel: Path, built: Path, capsys) -> None:
    run = _copy(built, sentinel)
    (sentinel / "junit.xml").symlink_to(run / store.PROTOCOL_FILE)
    argv = ["check", run, "--baseline", "baseline.json", "--junit", sentinel / "junit.xml"]
    _error(argv, capsys, "junit.xml", store.PROTOCOL_FILE)


def test_outputs_beside_a_run_are_written(sentinel: Path, built: Path, capsys) -> None:
    run = _copy(built, sentinel)
    assert main(["baseline", "save", str(run), str(run / "baseline.json")]) == 0
    assert main(["export", str(run), "--format", "csv", "--out", "exports/table.csv"]) == 0
    assert (run / "baseline.json").is_file() and Path("exports/table.csv").is_file()


# ---- operating-system errors: one line naming the path, exit 2 -----------------------------


def test_report_on_a_read_only_run_directory(sentinel: Path, built: Path, capsys, monkeypatch):
    run = _copy(built, sentinel)
    before = _snapshot(run)
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):  # a read-only mount: root cannot write either
        writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT
        if flags & writes and Path(os.path.abspath(path)).is_relative_to(run.resolve()):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(io.os, "open", read_only)
    _error(["report", run], capsys, run, "cannot write", "Read-only file system")
    monkeypatch.undo()
    assert _snapshot(run) == before


def _enospc(*_args: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_run_on_an_already_full_disk(sentinel: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(io.os, "write", _enospc)
    monkeypatch.setattr(io.os, "fsync", _enospc)
    _error(["run", "smoke", "--out", "run", *TINY], capsys, "no space left on device")
    monkeypatch.undo()
    assert not store.cells_root(sentinel / "run").exists()


def test_a_run_lock_that_is_a_directory(sentinel: Path, capsys) -> None:
    (sentinel / "run" / store.RUN_LOCK).mkdir(parents=True)
    run = sentinel / "run"
    _error(["run", "smoke", "--out", run, *TINY], capsys, run / store.RUN_LOCK, "regular file")


def test_a_report_lock_that_is_a_directory(sentinel: Path, built: Path, capsys) -> None:
    run = _copy(built, sentinel)
    (run / store.REPORT_LOCK).unlink(missing_ok=True)
    (run / store.REPORT_LOCK).mkdir()
    _error(["report", run], capsys, run / store.REPORT_LOCK, "not a regular file")


def test_a_report_folder_that_is_a_file(sentinel: Path, built: Path, capsys) -> None:
    run = _copy(built, sentinel)
    shutil.rmtree(run / store.REPORT_DIR)
    (run / store.REPORT_DIR).write_text("not a folder")
    _error(["report", run], capsys, run / store.REPORT_DIR, "not a directory")
    assert (run / store.REPORT_DIR).read_text() == "not a folder"


def test_a_cell_folder_that_is_a_file(sentinel: Path, built: Path, capsys) -> None:
    run = _copy(built, sentinel)
    cell = _a_cell(run)
    shutil.rmtree(cell)
    cell.write_text("not a folder")
    _error(["report", run], capsys, cell, "not a directory")


def test_a_store_that_is_a_file_stops_run(sentinel: Path, capsys) -> None:
    run = sentinel / "run"
    simulate_run(run, models=["concat"], seeds=[0], values=[])
    shutil.rmtree(run / STORE)
    (run / STORE).write_text("not a folder")
    _error(["run", "smoke", "--out", run, *TINY], capsys, run / STORE, "not a directory")


@pytest.mark.parametrize("address", ["tcp://[::1", "::::", "host:notaport", "tcp://h:1/x"])
def test_a_malformed_dask_address(sentinel: Path, capsys, address: str) -> None:
    argv = ["run", "smoke", "--executor", "dask", "--address", address, "--dry-run"]
    _error(argv, capsys, repr(address), "expected tcp://host:port")


def test_a_newline_in_a_path_cannot_forge_a_second_line(sentinel: Path, capsys) -> None:
    forged = "run\nerror: everything is fine"
    err = _error(["report", forged], capsys, "run\\nerror: everything is fine")
    assert err.count("error: ") == 2  # the forged text stays inside the one line
    (sentinel / "mine\nx").mkdir()
    (sentinel / "mine\nx" / "notes.txt").write_text("mine\n")
    _error(["run", "smoke", "--out", "mine\nx", "--dry-run"], capsys, "mine\\nx")
