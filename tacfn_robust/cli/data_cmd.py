"""CLI commands `data synth` (build and cache the synthetic set) and `data export`."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from tacfn.data.base import EmotionDataset


class ExportFormat(str, Enum):
    """File layouts `data export` writes (validated by the parser)."""

    ravdess = "ravdess"


data_app = typer.Typer(help="Build, cache and export data sets.", no_args_is_help=True)


def _summary(dataset: EmotionDataset, seconds: float) -> list[str]:
    info = dataset.info
    counts = dataset.meta.groupby("emotion_name", sort=False).size()
    return [
        f"data set   {info.name}: {len(dataset)} clips, {dataset.meta.actor.nunique()} actors",
        f"classes    {info.num_classes}: " + ", ".join(f"{k} {v}" for k, v in counts.items()),
        "shapes     " + ", ".join(f"{m} {tuple(s)}" for m, s in info.shapes.items()),
        f"sample rate {info.sample_rate} Hz",
        f"cache      {info.extra['cache_path']} ({'hit' if info.extra['cache_hit'] else 'built'})",
        f"seconds    {seconds:.1f}",
    ]


# the synthetic set's generator settings, shared by `data synth` and `data export`
ACTORS = typer.Option(12, "--actors", help="Number of actors, 1..24 (60 clips each).")
SEED = typer.Option(0, "--seed", help="Generator seed.")
DURATION = typer.Option(2.0, "--duration", help="Clip length in seconds.")
FRAMES = typer.Option(16, "--frames", help="Video frames per clip.")
SIZE = typer.Option(64, "--size", help="Frame height and width in pixels.")


@data_app.command("synth")
def synth(
    out: Path | None = typer.Option(
        None, "--out", help="Cache folder (default $TACFN_ROBUST_CACHE or ~/.cache/tacfn-robust)."
    ),
    actors: int = ACTORS,
    seed: int = SEED,
    duration: float = DURATION,
    frames: int = FRAMES,
    size: int = SIZE,
) -> None:
    """Generate the synthetic set (or find it in the cache) and print a summary."""
    from tacfn.data.synthetic import load_synthetic

    started = time.perf_counter()
    dataset = load_synthetic(
        actors=actors,
        duration=duration,
        frames=frames,
        size=size,
        seed=seed,
        cache=str(out) if out is not None else None,
    )
    for line in _summary(dataset, time.perf_counter() - started):
        typer.echo(line)


@data_app.command("export")
def export(
    out: Path = typer.Argument(..., help="Folder to write Actor_XX/*.mp4 into."),
    fmt: ExportFormat = typer.Option(ExportFormat.ravdess, "--format", help="Layout to write."),
    actors: int = ACTORS,
    seed: int = SEED,
    duration: float = DURATION,
    frames: int = FRAMES,
    size: int = SIZE,
) -> None:
    """Export the synthetic set as real containers (h264 + AAC) in RAVDESS's file layout."""
    from tacfn.data.export import export_ravdess
    from tacfn.data.synthetic import load_synthetic

    started = time.perf_counter()
    dataset = load_synthetic(actors=actors, duration=duration, frames=frames, size=size, seed=seed)
    files = export_ravdess(dataset, out)
    seconds = time.perf_counter() - started
    typer.echo(f"wrote {len(files)} clips for {actors} actors to {out} in {seconds:.1f} s")


def register(app: typer.Typer) -> None:
    """Add the `data` command group to the app."""
    app.add_typer(data_app, name="data")
