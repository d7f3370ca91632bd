"""Shapes through every stage and exact parameter counts of the presets."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import torch

from tacfn.core.errors import ConfigError
from tacfn.data.info import DatasetInfo
from tacfn.models import (
    MODELS,
    build_model,
    count_parameters,
    get_preset,
    list_models,
    list_presets,
)
from tacfn.models.encoders import WaveformEncoder

PAPER = get_preset("paper-ravdess").reference
IEMOCAP = get_preset("iemocap").reference


def _meta(name: str, info: DatasetInfo, preset: str, **options) -> torch.nn.Module:
    with torch.device("meta"):
        return build_model(name, info, preset, **options).to("meta")


@pytest.mark.parametrize(
    ("name", "preset", "count"),
    [
        ("tacfn", "paper-ravdess", 26_301_417),
        ("concat", "paper-ravdess", 25_916_072),
        ("cross_attention", "paper-ravdess", 26_430_376),
        ("audio_only", "paper-ravdess", 20_704 + 13_320),
        ("video_only", "paper-ravdess", 25_865_664 + 16_392),
        ("tacfn", "iemocap", 348_970),
        ("concat", "iemocap", 348_970 - 6_562),
    ],
)
def test_parameter_counts_match_the_spec(name: str, preset: str, count: int) -> None:
    info = get_preset(preset).reference
    assert count_parameters(_meta(name, info, preset)) == count


def test_optional_extras_are_opt_in_and_counted() -> None:
    base = count_parameters(_meta("tacfn", PAPER, "paper-ravdess"))
    learnable = count_parameters(_meta("tacfn", PAPER, "paper-ravdess", gain="learnable"))
    tokens = count_parameters(_meta("tacfn", PAPER, "paper-ravdess", learned_fill=True))
    assert learnable == base + 1
    assert tokens == base + 64 * 26 + 2048 * 2 * 7 * 7


def test_paper_encoders_give_the_fusion_point_shapes_at_full_size() -> None:
    model = _meta("tacfn", PAPER, "paper-ravdess")
    feats = model.encode(
        {
            "audio": torch.empty(2, 108_045, device="meta"),
            "video": torch.empty(2, 3, 30, 224, 224, device="meta"),
        }
    )
    assert feats["audio"].shape == (2, 26, 64)  # X_a time-major
    assert feats["video"].shape == (2, 2048, 2, 7, 7)  # X_v
    assert feats["video"].is_contiguous(memory_format=torch.channels_last_3d)
    assert model.feature_shapes == {"audio": (26, 64), "video": (2048, 2, 7, 7)}
    fused, alphas = model.apply_blocks(feats)
    assert fused["video"].shape == (2, 2048, 2, 7, 7) and alphas[0].shape == (2, 2, 49)
    assert model.fuse(feats, {}, {}).shape == (2, 8)


def test_mfcc_of_a_paper_clip_is_13_by_212() -> None:
    encoder = build_model("audio_only", PAPER, "paper-ravdess").encoders["audio"]
    assert isinstance(encoder, WaveformEncoder)
    wave = torch.randn(2, 108_045) * 0.1
    assert encoder.mfcc(wave).shape == (2, 13, 212)
    assert encoder(wave).shape == (2, 26, 64)


def test_paper_models_run_on_real_tensors_at_reduced_frames() -> None:
    info = dataclasses.replace(PAPER, shapes={**PAPER.shapes, "video": (3, 8, 64, 64)})
    batch = {"audio": torch.randn(2, 108_045) * 0.1, "video": torch.rand(2, 3, 8, 64, 64)}
    for name in MODELS.names():
        model = build_model(name, info, "paper-ravdess", seed=0).eval()
        feats = model.encode(batch)
        assert feats["video"].shape == (2, 2048, 1, 2, 2)
        with torch.inference_mode():
            logits = model.fuse(feats, {}, {})
        assert logits.shape == (2, 8) and torch.isfinite(logits).all()


def test_iemocap_layout_gives_multilabel_logits() -> None:
    model = build_model("tacfn", IEMOCAP, "iemocap", seed=0).eval()
    assert model.pairs == (("vision", "text"), ("audio", "text"))
    inputs = {m: torch.randn(3, *IEMOCAP.shapes[m]) for m in IEMOCAP.modalities}
    feats = model.encode(inputs)
    assert {m: tuple(f.shape) for m, f in feats.items()} == {
        "text": (3, 20, 40),
        "audio": (3, 20, 40),
        "vision": (3, 20, 40),
    }
    _, alphas = model.apply_blocks(feats)
    assert [tuple(a.shape) for a in alphas] == [(3, 1, 20), (3, 1, 20)]
    assert model.fuse(feats, {}, {}).shape == (3, 4, 2)
    cross = build_model("cross_attention", IEMOCAP, "iemocap", seed=0).eval()
    assert cross.fuse(cross.encode(inputs), {}, {}).shape == (3, 4, 2)


def test_registry_lists_and_rejects_names() -> None:
    assert list_presets() == ["cpu", "iemocap", "paper-ravdess"]
    assert list_models(IEMOCAP) == [*MODELS.names(), "text_only", "audio_only", "vision_only"]
    assert {"tacfn", "concat", "cross_attention", "late_average"} <= set(MODELS.names())
    with pytest.raises(ConfigError, match="unknown model 'tacf'; expected one of: .*tacfn"):
        build_model("tacf", PAPER)
    with pytest.raises(ConfigError, match="unknown preset 'gpu'; expected one of: cpu"):
        build_model("tacfn", PAPER, "gpu")
    with pytest.raises(ConfigError, match="softmax_axis='time'"):
        build_model("tacfn", PAPER, softmax_axis="time")
    with pytest.raises(ConfigError, match="bad option"):
        build_model("concat", PAPER, gain=2.0)
    with pytest.raises(ConfigError, match="modality 'text' is not in data set 'ravdess'"):
        build_model("tacfn", PAPER, blocks=[("text", "video")])


def test_models_command_prints_every_model_with_its_count(capsys) -> None:
    from tacfn_robust.cli import main

    assert main(["models", "--preset", "iemocap"]) == 0
    out = capsys.readouterr().out
    assert "348,970" in out and "vision_only" in out
    assert main(["models", "--preset", "gpu"]) == 2
    assert "unknown preset 'gpu'" in capsys.readouterr().err


def _readme_counts() -> dict[str, dict[str, int]]:
    """Preset -> model -> count from the README's parameter-count table (the models it shows:
    every count it states must be what the code computes)."""
    lines = (Path(__file__).parents[1] / "README.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| preset | tacfn |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    table: dict[str, dict[str, int]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        preset = re.match(r"`([^`]+)`", cells[0]).group(1)
        counts = {
            model: int(cell.replace(",", ""))
            for model, cell in zip(header[1:5], cells[1:5], strict=True)
        }
        counts.update(
            (model, int(count.replace(",", "")))
            for model, count in re.findall(r"`(\w+_only)` ([\d,]+)", cells[5])
        )
        table[preset] = counts
    return table


def test_readme_parameter_table_is_what_the_code_computes() -> None:
    readme = _readme_counts()
    assert sorted(readme) == list_presets()
    for preset, counts in readme.items():
        info = get_preset(preset).reference
        assert set(counts) <= set(list_models(info)), preset
        for name, count in counts.items():
            assert count_parameters(_meta(name, info, preset)) == count, (preset, name)


def test_iemocap_cross_attention_is_within_five_percent_of_tacfn() -> None:
    tacfn = count_parameters(_meta("tacfn", IEMOCAP, "iemocap"))
    cross = count_parameters(_meta("cross_attention", IEMOCAP, "iemocap"))
    assert abs(cross / tacfn - 1) <= 0.05
    assert count_parameters(_meta("tacfn", get_preset("cpu").reference, "cpu")) == 49_353
