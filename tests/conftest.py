"""Fixtures shared by several test modules."""

from __future__ import annotations

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
