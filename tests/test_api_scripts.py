"""The Python API from a plain script: a model defined in `__main__` (no `if __name__` guard, as
in a notebook) runs in process to a report; a pool that breaks says why, never "locked"."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

DATA = "dataset={name: synthetic, actors: 4, folds: 2, frames: 4, size: 32, duration: 0.5}"

MODEL_SCRIPT = """
import sys

import torch
from torch import nn

from tacfn_robust import load_protocol, register_model, run_protocol


class PooledFusion(nn.Module):
    \"\"\"Audio pooled into 16 bins and video into its colour means, averaged over the present
    modalities, then classified.\"\"\"

    def __init__(self, info, hidden=8):
        super().__init__()
        self.modalities = tuple(info.modalities)
        self.audio = nn.Linear(16, hidden)
        self.video = nn.Linear(3, hidden)
        self.head = nn.Linear(hidden, info.num_classes)

    def forward(self, batch):
        audio = batch.inputs["audio"]
        audio = audio[:, : audio.shape[1] // 16 * 16].reshape(len(audio), 16, -1).abs().mean(-1)
        feats = {
            "audio": self.audio(audio),
            "video": self.video(batch.inputs["video"].mean(dim=(2, 3, 4))),
        }
        masks = {m: batch.present[m].float()[:, None] for m in feats}
        total = sum(feats[m] * masks[m] for m in feats)
        return self.head(total / sum(masks.values()).clamp(min=1.0))


register_model("pooled_fusion", PooledFusion)
# two cells and two workers (as `workers: auto` on two cores): a pool unless the runner
# sees that the model lives in this script
overrides = ["train.epochs=1", "models=[pooled_fusion, concat]", "seeds=[0]", "executor.workers=2"]
protocol = load_protocol("smoke", [DATA, *overrides])
result = run_protocol(protocol, out=sys.argv[1])
print("report:", result.report, result.tally())
"""

POOL_SCRIPT = """
import sys

from tacfn_robust import load_protocol, run_protocol

protocol = load_protocol("smoke", [DATA, "train.epochs=1", "models=[concat]", "seeds=[0, 1]"])
run_protocol(protocol, out=sys.argv[1], workers=2)
"""


def _run_script(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "experiment.py"
    script.write_text(f"DATA = {DATA!r}\n" + textwrap.dedent(source))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run(
        [sys.executable, str(script), str(tmp_path / "run")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_script_without_main_guard_runs_its_own_model_to_a_report(tmp_path) -> None:
    done = _run_script(tmp_path, MODEL_SCRIPT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "2 trained, 0 reused, 0 failed" in done.stdout
    assert (tmp_path / "run" / "report" / "report.html").is_file()
    assert "pooled_fusion" in (tmp_path / "run" / "results.csv").read_text()


def test_a_pool_broken_by_an_unguarded_script_says_so_without_a_lock_message(tmp_path) -> None:
    done = _run_script(tmp_path, POOL_SCRIPT)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("tacfn.core.errors.ConfigError: a worker process of the pool ended")
    assert "if __name__ == '__main__':" in last
    assert "a spawned worker process is importing the main script" in done.stderr
    assert "another process" not in done.stderr and "Locked" not in done.stderr
