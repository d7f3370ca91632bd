"""Outputs are readable by the group: new files follow the umask (0644 under 022), never 0600."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tacfn.core import store
from tacfn.data.synthetic import load_synthetic
from tacfn_robust.protocols import load_protocol
from tacfn_robust.protocols.planning import plan
from tacfn_robust.protocols.provenance import write_protocol_files


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_protocol_files_and_cache_files_follow_the_umask(tmp_path: Path, umask_022) -> None:
    write_protocol_files(plan(load_protocol("smoke"), tmp_path / "run"))
    for name in store.ROOT_FILES:
        assert _mode(tmp_path / "run" / name) == 0o644, name
    load_synthetic(actors=1, duration=0.5, frames=2, size=16, cache=str(tmp_path / "cache"))
    cached = list((tmp_path / "cache").rglob("*.pt"))
    assert cached and {f.name: _mode(f) for f in cached} == {f.name: 0o644 for f in cached}
