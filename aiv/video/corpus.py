"""The built-in corpus: four deterministic CIF clips rendered from photographs shipped inside scikit-image.

No download: every image comes from `skimage.data` files in the installed package. Each clip is
a virtual camera over a photograph (sub-pixel motion, cubic interpolation, a short shutter blur,
hand-held shake), converted to 8-bit 4:2:0 with BT.601 limited range. Motion is a function of
time, so a longer clip starts with the frames of a shorter one; the exception is `light_cut`,
whose scene cut sits at the middle frame of whatever length is asked for.

- pan_zoom: a slow pan and zoom across a garage with a motorcycle (global motion).
- moving_object: a coffee cup cut out of one photo, sliding and turning over a brick floor (local motion).
- light_cut: a portrait whose light dims, then a cut to a rocket launch pad with a slow pan.
- noisy_static: a cat sitting still, with seeded sensor noise and slight camera jitter.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
from skimage import color, data

from aiv.errors import ClipError
from aiv.video.clip import Clip

WIDTH, HEIGHT = 352, 288
FPS = 30.0
CORPUS_NAMES: tuple[str, ...] = ("pan_zoom", "moving_object", "light_cut", "noisy_static")

_SHUTTER = 0.5  # fraction of a frame interval the virtual shutter stays open
_SHUTTER_SAMPLES = 3


def rgb_to_yuv420(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[T, H, W, 3] RGB in [0, 1] to uint8 BT.601 limited-range Y [T, H, W] and Cb, Cr averaged over 2x2."""
    t, h, w, _ = rgb.shape
    ycc = color.rgb2ycbcr(np.clip(rgb, 0.0, 1.0).astype(np.float32))
    chroma = ycc[..., 1:].reshape(t, h // 2, 2, w // 2, 2, 2).mean(axis=(2, 4))
    y, u, v = ycc[..., 0], chroma[..., 0], chroma[..., 1]
    return tuple(np.rint(plane).clip(0, 255).astype(np.uint8) for plane in (y, u, v))  # type: ignore[return-value]


def builtin_clip(name: str, frames: int = 30) -> Clip:
    """The built-in clip `name` (one of CORPUS_NAMES), `frames` frames at 30 fps."""
    if name not in _RENDERERS:
        raise ClipError(f"unknown built-in clip {name!r}; the built-in clips are {', '.join(CORPUS_NAMES)}")
    if frames < 1:
        raise ValueError(f"frames must be positive, got {frames}")
    y, u, v = rgb_to_yuv420(_RENDERERS[name](frames))
    return Clip(name, y, u, v, FPS, source=f"builtin:{name}")


def builtin_corpus(frames: int = 30) -> list[Clip]:
    """Every built-in clip, in CORPUS_NAMES order."""
    return [builtin_clip(name, frames) for name in CORPUS_NAMES]


# --- the virtual camera -------------------------------------------------------------------------

Pose = tuple[float, float, float, float]  # centre x, centre y (source pixels), source pixels per output pixel, radians


def _photo(rgb: np.ndarray) -> np.ndarray:
    """A photograph as float32 RGB in [0, 1], softened a little like a camera's optics (anti-aliasing too)."""
    return cv2.GaussianBlur(rgb.astype(np.float32) / 255.0, (0, 0), 0.6)


def _view(image: np.ndarray, pose: Pose, at: tuple[float, float] | None = None,
          border: int = cv2.BORDER_REFLECT_101) -> np.ndarray:
    """What a camera at `pose` sees of `image`, cubic sampling; the pose's centre lands on output point `at`
    (default: the frame's centre)."""
    cx, cy, scale, angle = pose
    ax, ay = at or ((WIDTH - 1) / 2, (HEIGHT - 1) / 2)
    cos, sin = scale * np.cos(angle), scale * np.sin(angle)
    # output (x, y) -> source: scale * R(angle) * ((x, y) - at) + (cx, cy)
    matrix = np.array([[cos, -sin, cx - cos * ax + sin * ay], [sin, cos, cy - sin * ax - cos * ay]], np.float32)
    return cv2.warpAffine(image, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                          borderMode=border)


def _exposure(render: Callable[[float], np.ndarray], t: float) -> np.ndarray:
    """Frame at time `t` (in frames): the scene averaged over the open shutter, i.e. mild motion blur."""
    offsets = np.linspace(-_SHUTTER / 2, _SHUTTER / 2, _SHUTTER_SAMPLES)
    return np.mean([render(t + dt) for dt in offsets], axis=0)


def _shake(seed: int, amplitude: float) -> Callable[[float], np.ndarray]:
    """Hand-held shake: (dx, dy, roll) at time t in frames, a seeded sum of 0.5-4 Hz sinusoids."""
    rng = np.random.default_rng(seed)
    freqs = rng.uniform(0.5, 4.0, (3, 4)) / FPS  # cycles per frame
    phases = rng.uniform(0, 2 * np.pi, (3, 4))
    weights = np.array([amplitude, amplitude, amplitude * 0.002])[:, None] / 2  # roll: ~0.1 degree per pixel

    def offset(t: float) -> np.ndarray:
        return (weights * np.sin(2 * np.pi * freqs * t + phases)).sum(axis=1)

    return offset


def _ease(t: float, period: float) -> float:
    """0 -> 1 -> 0 over `period` frames with zero speed at the turns, like an operator's pan."""
    return (1 - np.cos(2 * np.pi * t / period)) / 2


# --- the clips ----------------------------------------------------------------------------------

def _pan_zoom(frames: int) -> np.ndarray:
    image = _photo(data.stereo_motorcycle()[0])  # 741x500 garage with a red motorcycle
    shake = _shake(seed=11, amplitude=0.8)

    def render(t: float) -> np.ndarray:
        pan, zoom = _ease(t + 0.5 * FPS, 10 * FPS), _ease(t, 6 * FPS)  # the pan is under way at frame 0
        scale = 1.15 - 0.2 * zoom  # window 405x331 source pixels zooming in to 334x274
        dx, dy, da = shake(t)
        return _view(image, (205 + 330 * pan + dx, 300 - 60 * pan + dy, scale, da))

    return np.stack([_exposure(render, t) for t in range(frames)])


def _moving_object(frames: int) -> np.ndarray:
    brick = data.brick().astype(np.float32)[..., None] * np.array([1.0, 0.72, 0.58], np.float32)
    floor = _photo(brick)
    # the cup and saucer of the coffee photo (600x400: an ellipse at (278, 210), radii 205x185), ~110 px wide
    shrink = 3.7
    cup = cv2.resize(data.coffee(), None, fx=1 / shrink, fy=1 / shrink, interpolation=cv2.INTER_AREA)
    centre = (278 / shrink, 210 / shrink)
    yy, xx = np.mgrid[: cup.shape[0], : cup.shape[1]]
    radius = np.hypot((xx - centre[0]) / (205 / shrink), (yy - centre[1]) / (185 / shrink))
    alpha = np.clip((1 - radius) / 0.05, 0, 1).astype(np.float32)  # elliptical cut-out with a soft edge
    cutout = np.dstack([_photo(cup), alpha])
    shadow = cv2.GaussianBlur(alpha, (0, 0), 4)
    shake = _shake(seed=23, amplitude=0.2)  # a camera on a tripod: the cup does the moving

    def render(t: float) -> np.ndarray:
        dx, dy, da = shake(t)
        frame = _view(floor, (256 + dx, 256 + dy, 1.0, da))
        # a Lissajous path across the frame, turning slowly as it goes
        x = WIDTH / 2 + 105 * np.sin(2 * np.pi * t / (4.2 * FPS))
        y = HEIGHT / 2 + 70 * np.sin(2 * np.pi * t / (2.9 * FPS) + 0.8)
        pose = (*centre, 1.0, 0.35 * np.sin(2 * np.pi * t / (5.0 * FPS)))
        shade = _view(shadow, pose, (x + 6, y + 8), cv2.BORDER_CONSTANT)[..., None]
        layer = _view(cutout, pose, (x, y), cv2.BORDER_CONSTANT)
        frame = frame * (1 - 0.55 * shade)
        return frame * (1 - layer[..., 3:]) + layer[..., :3] * layer[..., 3:]

    return np.stack([_exposure(render, t) for t in range(frames)])


def _light_cut(frames: int) -> np.ndarray:
    portrait = _photo(data.astronaut())  # 512x512
    launch_pad = _photo(data.rocket())  # 640x427
    cut = frames // 2
    shake = _shake(seed=37, amplitude=0.6)

    def render(t: float) -> np.ndarray:
        dx, dy, da = shake(t)
        if t < cut - 0.5:  # a slow push-in while the light dims and warms over the first half
            dim = np.clip(t / max(cut - 1, 1), 0, 1)
            gain = np.array([1.0 - 0.45 * dim, 1.0 - 0.52 * dim, 1.0 - 0.62 * dim], np.float32)
            push = _ease(t, 16 * FPS)
            return _view(portrait, (256 + 50 * push + dx, 215 + dy, 1.2 - 0.25 * push, da)) * gain
        drift = _ease(t - cut + 2 * FPS, 16 * FPS)  # a gentle pan, already moving at the cut
        return _view(launch_pad, (230 + 180 * drift + dx, 230 + 25 * drift + dy, 1.1, da))

    return np.stack([_exposure(render, t) for t in range(frames)])


def _noisy_static(frames: int) -> np.ndarray:
    cat = _photo(data.chelsea())  # 451x300
    shake = _shake(seed=41, amplitude=0.35)

    def frame(t: int) -> np.ndarray:
        dx, dy, da = shake(t)
        clean = _view(cat, (225 + dx, 150 + dy, 1.0, da))
        # sensor noise: signal-dependent (shot) plus a floor (read), a little correlated across channels
        rng = np.random.default_rng((53, t))  # seeded per frame, so a short clip is a prefix of a long one
        shared = rng.standard_normal((HEIGHT, WIDTH, 1), dtype=np.float32)
        own = rng.standard_normal((HEIGHT, WIDTH, 3), dtype=np.float32)
        return clean + np.sqrt(2.5e-5 + 1.5e-4 * clean.clip(0, 1)) * (0.5 * shared + 0.85 * own)

    return np.stack([frame(t) for t in range(frames)])


_RENDERERS: dict[str, Callable[[int], np.ndarray]] = {
    "pan_zoom": _pan_zoom,
    "moving_object": _moving_object,
    "light_cut": _light_cut,
    "noisy_static": _noisy_static,
}
