"""Fixtures shared by several test modules."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def noise_folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A folder of two short noise recordings for the `background` corruption."""
    import soundfile

    folder = tmp_path_factory.mktemp("noise")
    rng = np.random.default_rng(0)
    soundfile.write(folder / "babble.wav", rng.normal(size=8000).astype(np.float32), 8000)
    soundfile.write(folder / "hum.wav", np.sin(np.arange(3000) * 0.3).astype(np.float32), 16000)
    return str(folder)


def _snapshot(root: Path, skip: Path) -> dict[str, tuple[str, int, str]]:
    """Kind, size and content hash (or link target) of everything under `root` but `skip`."""
    state: dict[str, tuple[str, int, str]] = {}
    for path in sorted(root.rglob("*")):
        if path == skip or skip in path.parents:
            continue
        name = str(path.relative_to(root))
        if path.is_symlink():
            state[name] = ("link", 0, os.readlink(path))
        elif path.is_dir():
            state[name] = ("dir", 0, oct(path.stat().st_mode))
        else:
            data = path.read_bytes()
            state[name] = ("file", len(data), hashlib.sha256(data).hexdigest())
    return state


@pytest.fixture
def sentinel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working folder (the cwd) inside a tree of the user's files that must not change.

    The tree holds `outside/` (files, a subfolder) next to the working folder `work/`; a test
    points links at `outside/` to tempt a write through them. After the test, anything
    created, changed or deleted outside `work/` fails it, naming the paths.
    """
    outside = tmp_path / "outside"
    (outside / "photos").mkdir(parents=True)
    (outside / "holiday.png").write_bytes(b"\x89PNG not really")
    (outside / "summary.json").write_text('{"mine": true}\n')
    (outside / "photos" / "cat.jpg").write_bytes(b"cat")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    before = _snapshot(tmp_path, work)
    yield work
    after = _snapshot(tmp_path, work)
    changed = sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )
    assert not changed, f"changed outside the working folder: {changed}"
