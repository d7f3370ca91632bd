"""The result store: atomic writes leave either the old or the new file, never a torn one."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tacfn.core import io, store
from tacfn_robust.protocols.rerun_policy import recorded


def test_atomic_write_replaces_whole_files(tmp_path: Path) -> None:
    path = tmp_path / "a" / store.CELL_FILE
    store.write_json(path, {"status": "done", "n": 3})
    assert store.read_json(path) == {"status": "done", "n": 3}
    store.write_json(path, {"status": "failed"})
    assert store.read_json(path) == {"status": "failed"}
    assert list(path.parent.iterdir()) == [path]


def test_a_failing_write_keeps_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / store.PREDICTIONS_FILE
    store.write_parquet(path, pd.DataFrame({"x": [1, 2]}))

    def torn(handle) -> None:
        handle.write(b"PAR1 half a file")
        raise KeyboardInterrupt  # e.g. the run is interrupted mid-write

    with pytest.raises(KeyboardInterrupt):
        io.atomic_write(path, torn)
    assert pd.read_parquet(path)["x"].tolist() == [1, 2]
    assert [p.name for p in tmp_path.iterdir()] == [store.PREDICTIONS_FILE]


def test_temporaries_of_a_killed_writer_are_removed(tmp_path: Path) -> None:
    (tmp_path / ".checkpoint.pt.abc.tmp").write_bytes(b"partial")
    (tmp_path / ".cell.json.def.tmp").write_bytes(b"{")
    (tmp_path / "train_log.csv").write_text("epoch\n0\n")
    assert io.remove_temporaries(tmp_path) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["train_log.csv"]


def test_torn_json_reads_as_absent(tmp_path: Path) -> None:
    (tmp_path / store.CELL_FILE).write_text('{"status": "do')
    assert recorded(tmp_path / store.CELL_FILE) is None
    assert recorded(tmp_path / "missing.json") is None


@settings(max_examples=20, deadline=None)
@given(st.binary(max_size=4096), st.text(max_size=200))
def test_bytes_and_text_round_trip(data: bytes, text: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        assert io.write_bytes(Path(tmp) / "b.bin", data).read_bytes() == data
        assert io.write_text(Path(tmp) / "t.txt", text).read_bytes() == text.encode()
