"""Waveform corruptions measured: realised SNR, spectra, clipping, reverb, masks, wav folders,
MP3 round trips."""

from __future__ import annotations

import dataclasses
import math
import random

import numpy as np
import pytest
import soundfile
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tacfn.core.batch import Batch
from tacfn.core.errors import ConfigError, DataError
from tacfn_robust import corruptions as C
from tacfn_robust.corruptions.functional import audio as F

RATE = 16000


def tones(freqs: list[float], length: int = 8000, amplitude: float = 0.5) -> Batch:
    """One sine (plus its 3rd harmonic) per row at each frequency."""
    t = torch.arange(length) / RATE
    rows = [
        amplitude * (torch.sin(2 * math.pi * f * t) + 0.3 * torch.sin(2 * math.pi * 3 * f * t))
        for f in freqs
    ]
    audio = torch.stack(rows).float()
    n = len(freqs)
    return Batch(
        inputs={"audio": audio},
        present={"audio": torch.ones(n, dtype=torch.bool)},
        labels=torch.zeros(n, dtype=torch.long),
        ids=tuple(f"t{i}" for i in range(n)),
        sample_rate=RATE,
    )


def snr_db(clean: torch.Tensor, noisy: torch.Tensor) -> torch.Tensor:
    """Measured SNR of each row from the RMS ratio (float64)."""
    clean, noise = clean.double(), (noisy - clean).double()
    return 20 * torch.log10(clean.pow(2).mean(-1).sqrt() / noise.pow(2).mean(-1).sqrt())


@pytest.fixture(scope="module")
def noise_folder(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("noises")
    rng = np.random.default_rng(3)
    soundfile.write(folder / "cafe.wav", rng.normal(size=(6000, 2)).astype(np.float32), 22050)
    soundfile.write(folder / "fan.wav", rng.uniform(-1, 1, size=2000).astype(np.float32), RATE)
    (folder / "notes.txt").write_text("not audio")
    return folder


@settings(max_examples=20, deadline=None)
@given(
    snr=st.floats(min_value=-10, max_value=60),
    amplitude=st.floats(min_value=1e-3, max_value=10),
    seed=st.integers(min_value=0, max_value=2**40),
    name=st.sampled_from(["gaussian_snr", "colored_noise:pink", "colored_noise:brown"]),
)
def test_realised_snr_matches_request(snr: float, amplitude: float, seed: int, name: str) -> None:
    batch = tones([220.0, 440.0, 97.0], amplitude=amplitude)
    corruption, _, color = name.partition(":")
    options = {"color": color} if color else {}
    out, records = C.build(corruption, "audio", snr_db=snr, **options).apply(
        batch, C.test_seeds(seed, "snr", batch.ids)
    )
    measured = snr_db(batch.inputs["audio"], out.inputs["audio"])
    assert torch.allclose(measured, torch.full_like(measured, snr), atol=0.1)
    assert all(abs(r["snr_db_realised"] - snr) < 0.1 for r in records)


def test_background_mixes_wav_files_at_snr(noise_folder) -> None:
    batch = tones([150.0, 300.0, 600.0, 1200.0, 90.0, 500.0])
    corruption = C.build("background", "audio", snr_db=5, folder=str(noise_folder))
    assert [p.name for p in corruption.files] == ["cafe.wav", "fan.wav"]
    out, records = corruption.apply(batch, C.test_seeds(0, "bg", batch.ids))
    measured = snr_db(batch.inputs["audio"], out.inputs["audio"])
    assert torch.allclose(measured, torch.full_like(measured, 5.0), atol=0.1)
    assert {r["noise_file"] for r in records} <= {"cafe.wav", "fan.wav"}
    assert all(r["noise_offset"] >= 0 for r in records)


def test_background_folder_errors(tmp_path) -> None:
    with pytest.raises(DataError, match="background: folder .* has no .wav files"):
        C.build("background", "audio", level=1, folder=str(tmp_path))
    with pytest.raises(Exception, match=r"folder='/no/such' is invalid; expected an existing"):
        C.build("background", "audio", level=1, folder="/no/such")


def test_colored_noise_spectral_slope() -> None:
    white = torch.randn(4, 2**15, generator=torch.Generator().manual_seed(0))
    freqs = torch.fft.rfftfreq(2**15, 1 / RATE)
    for exponent in (1.0, 2.0):
        power = torch.fft.rfft(F.colored(white, exponent)).abs().pow(2).mean(0)
        band = (freqs > 50) & (freqs < 5000)
        slope = np.polyfit(freqs[band].log10().numpy(), power[band].log10().numpy(), 1)[0]
        assert slope == pytest.approx(-exponent, abs=0.1)


@pytest.mark.parametrize("level", [2, 3, 4, 5])
def test_lowpass_attenuates_energy_above_cutoff(level: int) -> None:
    batch = tones([180.0, 700.0, 1900.0])
    noise = torch.randn(3, 8000, generator=torch.Generator().manual_seed(1))
    batch = batch.with_inputs(audio=batch.inputs["audio"] + 0.2 * noise)
    corruption = C.build("lowpass", "audio", level=level)
    out, records = corruption.apply(batch, C.test_seeds(0, "lp", batch.ids))
    # Hann-windowed spectra of the interior (away from the filter's edge transients).
    window = torch.hann_window(6000, dtype=torch.float64)
    freqs = torch.fft.rfftfreq(6000, 1 / RATE)

    def power(x: torch.Tensor) -> torch.Tensor:
        return torch.fft.rfft(x[:, 1000:7000].double() * window).abs().pow(2)

    before, after = power(batch.inputs["audio"]), power(out.inputs["audio"])
    cutoff = corruption.value
    stop = freqs > cutoff + 150  # past the ~170 Hz transition band of the 511-tap filter
    passband = freqs < cutoff - 150
    attenuation = 10 * torch.log10(after[:, stop].sum(-1) / before[:, stop].sum(-1))
    assert bool((attenuation < -50).all()), attenuation
    kept = after[:, passband].sum(-1) / before[:, passband].sum(-1)
    assert torch.allclose(kept, torch.ones(3, dtype=torch.float64), atol=0.01)
    assert all(r["filtered"] and r["cutoff_hz"] == cutoff for r in records)


def test_lowpass_at_or_above_nyquist_is_recorded_as_unfiltered() -> None:
    batch = tones([440.0])
    out, records = C.build("lowpass", "audio", level=1).apply(batch, torch.tensor([1]))
    assert torch.equal(out.inputs["audio"], batch.inputs["audio"])
    assert records[0]["filtered"] is False and records[0]["nyquist_hz"] == 8000


def test_clipping_threshold_is_fraction_of_each_peak() -> None:
    batch = tones([200.0, 300.0], amplitude=0.5).with_inputs(
        audio=tones([200.0, 300.0]).inputs["audio"] * torch.tensor([[1.0], [3.0]])
    )
    out, records = C.build("clipping", "audio", fraction=0.4).apply(batch, torch.tensor([1, 2]))
    peaks = batch.inputs["audio"].abs().amax(-1)
    assert torch.allclose(out.inputs["audio"].abs().amax(-1), 0.4 * peaks)
    share = (batch.inputs["audio"].abs() > 0.4 * peaks[:, None]).float().mean(-1)
    assert [r["clipped_share"] for r in records] == pytest.approx(share.tolist())


def test_reverb_keeps_rms_and_records_drr() -> None:
    batch = tones([200.0, 350.0])
    for rt60 in (0.2, 1.0):
        out, records = C.build("reverb", "audio", rt60_s=rt60).apply(batch, torch.tensor([4, 5]))
        assert torch.allclose(F.rms(out.inputs["audio"]), F.rms(batch.inputs["audio"]), rtol=1e-4)
        assert records[0]["rir_taps"] == math.ceil(rt60 * RATE)
        assert records[0]["drr_db"] == pytest.approx(-3.0 - 10 * math.log10(rt60))
    noise = torch.randn(1, 16000, generator=torch.Generator().manual_seed(0))
    rir = F.exponential_rir(noise, 0.5, RATE, drr_db=2.0)
    assert float(rir[0, 0]) == 1.0
    assert 10 * math.log10(1.0 / float(rir[0, 1:].pow(2).sum())) == pytest.approx(2.0)
    # Schroeder backward integral: the tail decays 60 dB over RT60 (fit between -5 and -35 dB).
    edc = rir[0, 1:].double().pow(2).flip(0).cumsum(0).flip(0)
    edc_db = 10 * torch.log10(edc / edc[0])
    t = torch.arange(edc_db.numel()) / RATE
    fit = (edc_db < -5) & (edc_db > -35)
    slope = np.polyfit(t[fit].numpy(), edc_db[fit].numpy(), 1)[0]
    assert -60 / slope == pytest.approx(0.5, rel=0.05)


@settings(max_examples=25, deadline=None)
@given(
    fraction=st.floats(min_value=0.0, max_value=1.0),
    segments=st.integers(min_value=1, max_value=6),
    seed=st.integers(min_value=0, max_value=2**50),
)
def test_time_mask_silences_exactly_the_fraction(fraction: float, segments: int, seed: int) -> None:
    batch = tones([300.0, 500.0]).with_inputs(audio=torch.full((2, 8000), 0.25))
    corruption = C.build("time_mask", "audio", fraction=fraction, segments=segments)
    out, records = corruption.apply(batch, torch.tensor([seed, seed + 1]))
    silenced = (out.inputs["audio"] == 0).sum(-1)
    expected = 0 if corruption.is_identity else round(fraction * 8000)
    assert silenced.tolist() == [expected, expected]
    if expected:
        assert all(r["masked_share"] == expected / 8000 for r in records)
        assert all(1 <= r["segments"] <= segments for r in records)


def test_missing_sample_rate_is_a_data_error() -> None:
    batch = tones([300.0])
    batch = Batch(batch.inputs, batch.present, batch.labels, batch.ids)
    with pytest.raises(DataError, match="lowpass: batch has no sample_rate"):
        C.build("lowpass", "audio", level=3).apply(batch, torch.tensor([0]))


def test_time_stretch_keeps_length_and_pitch_shift_moves_the_spectrum() -> None:
    batch = tones([440.0])
    stretched, _ = C.build("time_stretch", "audio", rate=1.5).apply(batch, torch.tensor([0]))
    assert stretched.inputs["audio"].shape == (1, 8000)
    shifted, records = C.build("pitch_shift", "audio", semitones=12).apply(batch, torch.tensor([0]))
    spectrum = torch.fft.rfft(shifted.inputs["audio"][0]).abs()
    peak_hz = float(torch.fft.rfftfreq(8000, 1 / RATE)[spectrum.argmax()])
    assert peak_hz == pytest.approx(880.0, abs=10.0)
    assert records[0]["method"] == "signalsmith_stretch"


def speech_like(n: int, length: int = 8000, seed: int = 0) -> Batch:
    """Voiced harmonics under a syllable envelope plus a breath-noise floor: broadband speech."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(length) / RATE
    f0 = 110 + 90 * torch.rand(n, 1, generator=gen)
    voiced = sum(torch.sin(2 * math.pi * k * f0 * t) / k for k in range(1, 25))
    envelope = 0.55 + 0.45 * torch.sin(2 * math.pi * 4 * t)
    breath = 0.05 * torch.randn(n, length, generator=gen)
    batch = tones([100.0] * n, length)
    return batch.with_inputs(audio=(0.2 * voiced * envelope + breath).float())


@pytest.fixture(scope="module")
def speech() -> Batch:
    return speech_like(7)


def test_mp3_error_grows_as_the_bitrate_falls(speech: Batch) -> None:
    seeds = C.test_seeds(0, "mp3", speech.ids)
    clean = speech.inputs["audio"]
    errors, snrs = [], []
    for level in range(6):
        out, records = C.build("mp3", "audio", level=level).apply(speech, seeds)
        assert out.inputs["audio"].shape == clean.shape
        errors.append(float((out.inputs["audio"] - clean).pow(2).mean()))
        if level:
            measured = snr_db(clean, out.inputs["audio"])
            assert [r["snr_db_realised"] for r in records] == pytest.approx(measured.tolist())
            assert {r["bitrate_kbps"] for r in records} == {C.describe("mp3")["levels"][level - 1]}
            snrs.append(float(measured.mean()))
    assert errors[0] == 0.0
    assert all(b > a for a, b in zip(errors, errors[1:], strict=False)), errors
    assert snrs[0] - snrs[-1] > 6.0, snrs  # 8 kbps costs at least 6 dB more than 128 kbps


@settings(max_examples=8, deadline=None)
@given(
    length=st.integers(min_value=1600, max_value=12000),
    bitrate=st.sampled_from([8, 24, 56, 160, 320]),
)
def test_mp3_keeps_length_and_timing(length: int, bitrate: int) -> None:
    batch = speech_like(2, length)
    out, records = C.build("mp3", "audio", bitrate_kbps=bitrate).apply(batch, torch.tensor([1, 2]))
    assert out.inputs["audio"].shape == (2, length)
    clean, coded = batch.inputs["audio"][0].double(), out.inputs["audio"][0].double()
    lags = range(-40, 41)
    corr = [float((clean[100:-100] * coded.roll(-lag)[100:-100]).sum()) for lag in lags]
    assert lags[int(np.argmax(corr))] == 0  # no encoder delay left in the output
    assert all(r["quality"] == 7 for r in records)


def test_mp3_identical_across_batch_size_and_order_and_keeps_global_rng(speech: Batch) -> None:
    corruption = C.build("mp3", "audio", level=4, quality=2)
    seeds = C.test_seeds(3, "mp3@4", speech.ids)
    random.seed(5)
    np.random.seed(5)
    before = (random.getstate(), np.random.get_state()[1].copy())
    full, records = corruption.apply(speech, seeds)
    assert random.getstate() == before[0]
    assert np.array_equal(np.random.get_state()[1], before[1])
    for rows in (torch.tensor([4]), torch.tensor([6, 0, 3, 5, 1, 2, 4])):
        part, part_records = corruption.apply(speech.select(rows), seeds[rows])
        assert torch.equal(part.inputs["audio"], full.inputs["audio"][rows])
        assert part_records == [records[i] for i in rows.tolist()]
    assert records[0]["quality"] == 2


def test_mp3_rejects_unsupported_bitrates_rates_and_short_clips() -> None:
    with pytest.raises(
        ConfigError, match=r"mp3: bitrate_kbps=100 is not an MP3 bitrate; .* 96, 112"
    ):
        C.build("mp3", "audio", bitrate_kbps=100)
    with pytest.raises(
        ConfigError, match=r"mp3: bitrate_kbps=4 out of range; .* 8 <= bitrate_kbps"
    ):
        C.build("mp3", "audio", bitrate_kbps=4)
    assert C.build("mp3", "audio", bitrate_kbps=math.inf).is_identity
    corruption = C.build("mp3", "audio", level=2)
    odd_rate = dataclasses.replace(speech_like(1), sample_rate=20000)
    with pytest.raises(DataError, match="mp3: sample_rate=20000 is unsupported; expected one of"):
        corruption.apply(odd_rate, torch.tensor([0]))
    with pytest.raises(DataError, match=r"mp3: clips of 800 samples are too short; .* 1600"):
        corruption.apply(speech_like(1, 800), torch.tensor([0]))
