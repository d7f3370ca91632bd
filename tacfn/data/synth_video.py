"""Analytic face clips: head, eyes, brows and mouth drawn as soft shapes, all frames at once."""

from __future__ import annotations

import numpy as np

from tacfn.data import synth_style as st

_DARK = np.array([0.12, 0.08, 0.07])
_MOUTH = np.array([0.4, 0.05, 0.08])


def _soft(distance: np.ndarray, size: int) -> np.ndarray:
    """Coverage of a shape from a signed distance (positive inside), about one pixel wide."""
    return 1.0 / (1.0 + np.exp(-np.clip(distance * size * 0.5, -30, 30)))


def _trajectory(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """Onset-apex-offset expression intensity in [0, 1] at times t in [0, 1]."""
    onset = rng.uniform(0.02, 0.18)
    apex = onset + rng.uniform(0.12, 0.25)
    release = rng.uniform(0.7, 0.85)
    end = min(1.05, release + rng.uniform(0.1, 0.25))
    rise = np.clip((t - onset) / (apex - onset), 0, 1)
    fall = np.clip((end - t) / (end - release), 0, 1)
    e = np.minimum(rise, fall)
    return e * e * (3 - 2 * e)


def _segment_distance(
    x: np.ndarray, y: np.ndarray, x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray
) -> np.ndarray:
    """Distance from points (x, y) to segments (x0, y0)-(x1, y1), broadcast over frames."""
    dx, dy = x1 - x0, y1 - y0
    h = np.clip(((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy), 0, 1)
    return np.hypot(x - x0 - h * dx, y - y0 - h * dy)


def render_video(
    rng: np.random.Generator,
    actor: st.Actor,
    emotion: int,
    strong: bool,
    frames: int,
    size: int,
) -> np.ndarray:
    """One clip, uint8 (3, frames, size, size)."""
    pairs = st.VIDEO_PAIR
    gain = actor.face_expressive * (st.STRONG_GAIN if strong else 1.0)
    noise = st.VIDEO_NOISE

    def level(values: tuple[float, ...], within: bool = False) -> float:
        spacing = float(np.ptp(values))
        value = st.cue(values, pairs, emotion, gain, noise * spacing if within else 0.0)
        return value + noise * spacing * rng.standard_normal()

    curve, opening = level(st.MOUTH_CURVE), max(0.0, level(st.MOUTH_OPEN))
    brow_angle, brow_raise = level(st.BROW_ANGLE), level(st.BROW_RAISE, within=True)
    eye_open = float(np.clip(level(st.EYE_OPEN, within=True), 0.15, 1.3))
    motion = max(0.05, level(st.MOTION))

    t = np.linspace(0.0, 1.0, frames)[:, None, None]
    e = _trajectory(rng, t)
    eye_rest = st.EYE_OPEN[pairs[0]]
    curve_t = e * curve
    open_t = 0.04 + e * opening + 0.1 * e * np.abs(np.sin(np.pi * 6 * t + rng.uniform(0, np.pi)))
    angle_t, raise_t = e * brow_angle, e * brow_raise
    eye_t = eye_rest + e * (eye_open - eye_rest)
    blink = np.ones_like(t)
    for centre in rng.uniform(0, 1, rng.integers(0, 3)):
        blink = np.minimum(blink, np.clip(np.abs(t - centre) * frames / 1.5, 0.1, 1.0))
    eye_t = eye_t * blink

    freq = rng.uniform(0.5, 1.5, 2)
    shift = rng.uniform(0, 2 * np.pi, 2)
    cx = actor.face_dx + 0.1 * motion * np.sin(2 * np.pi * freq[0] * t + shift[0])
    cy = actor.face_dy + 0.08 * motion * np.sin(2 * np.pi * freq[1] * t + shift[1])
    tiltx = 0.05 * motion * np.sin(2 * np.pi * freq[1] * t + shift[0])

    axis = (np.arange(size) + 0.5) / size * 2 - 1
    y, x = np.meshgrid(axis, axis, indexing="ij")
    x, y = x[None], y[None]
    rx, ry = actor.face_rx, actor.face_ry
    head = _soft(1 - ((x - cx) / rx) ** 2 - ((y - cy) / ry) ** 2, size * 0.3)

    eyes = np.zeros_like(head)
    brows = np.zeros_like(head)
    eye_y = cy - 0.2 * ry
    for side in (-1.0, 1.0):
        ex = cx + side * actor.eye_dx * rx + tiltx
        erx, ery = 0.16, 0.16 * eye_t + 1e-3
        eyes = np.maximum(eyes, _soft(1 - ((x - ex) / erx) ** 2 - ((y - eye_y) / ery) ** 2, 6))
        by = eye_y - 0.22 - 0.2 * raise_t
        inner, outer = ex - side * 0.12, ex + side * 0.14
        d = _segment_distance(x, y, inner, by + 0.15 * angle_t, outer, by - 0.1 * angle_t)
        brows = np.maximum(brows, _soft(0.075 - d, size))

    mw = 0.42 * rx / 0.6
    my = cy + 0.48 * ry
    xm = np.clip((x - cx) / mw, -1.2, 1.2)
    centre_line = my - 0.3 * curve_t * (xm**2 - 0.35)
    half = 0.04 + 0.3 * open_t * np.clip(1 - xm**2, 0, 1)
    mouth = _soft(half - np.abs(y - centre_line), size) * _soft(1 - np.abs(xm), size * 0.3)

    gradient = 1.0 + 0.15 * y
    img = actor.background[:, None, None, None] * gradient
    img = img + (actor.skin[:, None, None, None] - img) * head
    img = img + (_DARK[:, None, None, None] - img) * (np.maximum(eyes, brows) * head)
    img = img + (_MOUTH[:, None, None, None] - img) * (mouth * head)
    img = img * rng.uniform(0.85, 1.15) + 0.03 * rng.standard_normal(img.shape)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
