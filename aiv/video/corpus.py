"""The built-in corpus: CIF clips rendered from photographs shipped inside scikit-image, unique to a secret.

No download: every image comes from `skimage.data` files in the installed package. Each clip is
a virtual camera over a photograph (sub-pixel motion, cubic interpolation, a short shutter blur,
hand-held shake), converted to 8-bit 4:2:0 with BT.601 limited range. Motion is a function of
time, so a longer clip starts with the frames of a shorter one; the exception is the light cut,
whose scene cut sits at the middle frame of whatever length is asked for.

Nothing about a clip is fixed in this file: which photographs, where the camera starts and how
it moves, the tints, the shake and the noise all derive from a `secret` (bytes, e.g. one per
store, never shown to a codec). One secret always renders the same clips, so reruns compare;
another secret renders different ones, so a codec cannot replay a clip from the package files.

Four kinds of content, each twice: once from the train photographs and once (`val_*`) from
other photographs, so the validation split asks the same questions of different pictures.

- pan_zoom: a slow pan and zoom across a wide scene (global motion).
- moving_object: a round object cut out of one photo, sliding and turning over a floor (local motion).
- light_cut: a portrait whose light dims, then a cut to another scene with a slow pan.
- noisy_static: a still scene with sensor noise and slight camera jitter.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from skimage import color, data

from aiv.errors import ClipError
from aiv.video.clip import Clip

WIDTH, HEIGHT = 352, 288
FPS = 30.0
KINDS: tuple[str, ...] = ("pan_zoom", "moving_object", "light_cut", "noisy_static")
TRAIN_NAMES: tuple[str, ...] = KINDS
VALIDATION_NAMES: tuple[str, ...] = tuple(f"val_{kind}" for kind in KINDS)
CORPUS_NAMES: tuple[str, ...] = TRAIN_NAMES + VALIDATION_NAMES
SECRET_BYTES = 32

_SHUTTER = 0.5  # fraction of a frame interval the virtual shutter stays open
_SHUTTER_SAMPLES = 3

Rng = np.random.Generator


def new_secret() -> bytes:
    """A fresh random corpus secret."""
    return secrets.token_bytes(SECRET_BYTES)


def rgb_to_yuv420(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[T, H, W, 3] RGB in [0, 1] to uint8 BT.601 limited-range Y [T, H, W] and Cb, Cr averaged over 2x2."""
    t, h, w, _ = rgb.shape
    ycc = color.rgb2ycbcr(np.clip(rgb, 0.0, 1.0).astype(np.float32))
    chroma = ycc[..., 1:].reshape(t, h // 2, 2, w // 2, 2, 2).mean(axis=(2, 4))
    y, u, v = ycc[..., 0], chroma[..., 0], chroma[..., 1]
    return tuple(np.rint(plane).clip(0, 255).astype(np.uint8) for plane in (y, u, v))  # type: ignore[return-value]


def builtin_clip(name: str, frames: int = 30, *, secret: bytes) -> Clip:
    """The built-in clip `name` (one of CORPUS_NAMES) as `secret` renders it, `frames` frames at 30 fps."""
    kind = name.removeprefix("val_")
    if name not in CORPUS_NAMES:
        raise ClipError(f"unknown built-in clip {name!r}; the built-in clips are {', '.join(CORPUS_NAMES)}")
    if frames < 1:
        raise ValueError(f"frames must be positive, got {frames}")
    if not isinstance(secret, bytes) or len(secret) < 16:
        raise ValueError("the corpus secret must be at least 16 bytes")
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(secret + b"\0" + name.encode()).digest(), "big"))
    photos = _VALIDATION if name.startswith("val_") else _TRAIN
    y, u, v = rgb_to_yuv420(_RENDERERS[kind](frames, photos, rng))
    return Clip(name, y, u, v, FPS, source=f"builtin:{name}")


def builtin_corpus(frames: int = 30, *, secret: bytes, names: tuple[str, ...] = CORPUS_NAMES) -> list[Clip]:
    """The built-in clips `names` (default: all, train then validation) as `secret` renders them."""
    return [builtin_clip(name, frames, secret=secret) for name in names]


# --- the photographs ----------------------------------------------------------------------------


def _photo(rgb: np.ndarray) -> np.ndarray:
    """A photograph as float32 RGB in [0, 1], softened a little like a camera's optics (anti-aliasing too)."""
    return cv2.GaussianBlur(rgb.astype(np.float32) / 255.0, (0, 0), 0.6)


def _tinted(gray: np.ndarray, tint: np.ndarray) -> np.ndarray:
    """A grayscale photograph as RGB under a coloured light."""
    return gray.astype(np.float32)[..., None] * tint.astype(np.float32)


def _resized(rgb: np.ndarray, factor: float) -> np.ndarray:
    return cv2.resize(rgb, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class _Cutout:
    """A round object in a photograph: the ellipse at `centre` with `radii` (source pixels)."""

    image: Callable[[], np.ndarray]
    centre: tuple[float, float]
    radii: tuple[float, float]


@dataclass(frozen=True)
class _Photos:
    """The photographs one split's clips choose from; each is a loader of uint8 RGB (or gray to tint)."""

    wide: tuple[Callable[[], np.ndarray], ...]  # pan_zoom: scenes at least 500 x 400
    objects: tuple[_Cutout, ...]  # moving_object: what slides
    floors: tuple[Callable[[], np.ndarray], ...]  # moving_object: grayscale textures it slides over
    portraits: tuple[Callable[[], np.ndarray], ...]  # light_cut: before the cut
    scenes: tuple[Callable[[], np.ndarray], ...]  # light_cut: after the cut
    stills: tuple[Callable[[], np.ndarray], ...]  # noisy_static


def _retina_centre() -> np.ndarray:
    """The fundus photograph's vessels without the black surround, at two thirds of its size."""
    return _resized(data.retina()[250:1160, 250:1160], 2 / 3)


def _sepia_camera() -> np.ndarray:
    return np.clip(_tinted(data.camera(), np.array([1.0, 0.88, 0.72])), 0, 255)


def _bright_hubble() -> np.ndarray:
    """The deep field lifted out of the black so its noise is not all clipped away."""
    return np.clip(data.hubble_deep_field().astype(np.float32) * 2.2 + 30, 0, 255)


_TRAIN = _Photos(
    wide=(lambda: data.stereo_motorcycle()[0], lambda: data.stereo_motorcycle()[1]),
    objects=(_Cutout(data.coffee, (278, 210), (205, 185)),),  # the cup and saucer of the coffee photo
    floors=(data.brick,),
    portraits=(data.astronaut,),
    scenes=(data.rocket,),
    stills=(data.chelsea,),
)
_VALIDATION = _Photos(
    wide=(data.immunohistochemistry, _bright_hubble),
    objects=(_Cutout(data.colorwheel, (185, 185), (180, 180)), _Cutout(data.retina, (700, 700), (690, 690))),
    floors=(data.gravel, data.grass),
    portraits=(_sepia_camera,),
    scenes=(data.immunohistochemistry, _retina_centre),
    stills=(data.immunohistochemistry, _sepia_camera),
)


def _pick(rng: Rng, loaders: tuple[Callable[[], np.ndarray], ...]) -> np.ndarray:
    return loaders[int(rng.integers(len(loaders)))]()


# --- the virtual camera -------------------------------------------------------------------------

Pose = tuple[float, float, float, float]  # centre x, centre y (source pixels), source pixels per output pixel, radians


def _view(
    image: np.ndarray, pose: Pose, at: tuple[float, float] | None = None, border: int = cv2.BORDER_REFLECT_101
) -> np.ndarray:
    """What a camera at `pose` sees of `image`, cubic sampling; the pose's centre lands on output point `at`
    (default: the frame's centre)."""
    cx, cy, scale, angle = pose
    ax, ay = at or ((WIDTH - 1) / 2, (HEIGHT - 1) / 2)
    cos, sin = scale * np.cos(angle), scale * np.sin(angle)
    # output (x, y) -> source: scale * R(angle) * ((x, y) - at) + (cx, cy)
    matrix = np.array([[cos, -sin, cx - cos * ax + sin * ay], [sin, cos, cy - sin * ax - cos * ay]], np.float32)
    return cv2.warpAffine(
        image, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=border
    )


def _centres(
    rng: Rng, image: np.ndarray, scale: float, margin: float = 6
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Two points a window of `scale` source pixels per output pixel can be centred on inside `image`: the
    first in an outer third of each axis, the second in the opposite third (a pan that goes somewhere)."""
    h, w = image.shape[:2]
    half = np.array([scale * WIDTH / 2 + margin, scale * HEIGHT / 2 + margin])
    low, high = half, np.array([w, h]) - half
    if (low > high).any():
        raise ValueError(f"a {w}x{h} photograph is too small for a window of scale {scale}")
    near, far = low + rng.uniform(0, 1 / 3, 2) * (high - low), high - rng.uniform(0, 1 / 3, 2) * (high - low)
    flip = rng.random(2) < 0.5
    start, end = np.where(flip, far, near), np.where(flip, near, far)
    return (float(start[0]), float(start[1])), (float(end[0]), float(end[1]))


def _exposure(render: Callable[[float], np.ndarray], t: float) -> np.ndarray:
    """Frame at time `t` (in frames): the scene averaged over the open shutter, i.e. mild motion blur."""
    offsets = np.linspace(-_SHUTTER / 2, _SHUTTER / 2, _SHUTTER_SAMPLES)
    return np.mean([render(t + dt) for dt in offsets], axis=0)


def _shake(rng: Rng, amplitude: float) -> Callable[[float], np.ndarray]:
    """Hand-held shake: (dx, dy, roll) at time t in frames, a random sum of 0.5-4 Hz sinusoids."""
    freqs = rng.uniform(0.5, 4.0, (3, 4)) / FPS  # cycles per frame
    phases = rng.uniform(0, 2 * np.pi, (3, 4))
    weights = np.array([amplitude, amplitude, amplitude * 0.002])[:, None] / 2  # roll: ~0.1 degree per pixel

    def offset(t: float) -> np.ndarray:
        return (weights * np.sin(2 * np.pi * freqs * t + phases)).sum(axis=1)

    return offset


def _ease(t: float, period: float) -> float:
    """0 -> 1 -> 0 over `period` frames with zero speed at the turns, like an operator's pan."""
    return (1 - np.cos(2 * np.pi * t / period)) / 2


def _tint(rng: Rng, base: tuple[float, float, float], spread: float = 0.08) -> np.ndarray:
    return np.clip(np.array(base) + rng.uniform(-spread, spread, 3), 0.3, 1.0)


# --- the clips ----------------------------------------------------------------------------------


def _pan_zoom(frames: int, photos: _Photos, rng: Rng) -> np.ndarray:
    image = _photo(_pick(rng, photos.wide))
    scale = rng.uniform(1.0, 1.15)  # the widest window; the zoom narrows it by `depth`
    depth = rng.uniform(0.12, 0.22)
    (x0, y0), (x1, y1) = _centres(rng, image, scale)
    pan_period, zoom_period = rng.uniform(9, 12) * FPS, rng.uniform(5, 7) * FPS
    lead = rng.uniform(1.0, 2.5) * FPS  # the pan is under way at frame 0
    shake = _shake(rng, amplitude=rng.uniform(0.6, 1.0))

    def render(t: float) -> np.ndarray:
        pan, zoom = _ease(t + lead, pan_period), _ease(t, zoom_period)
        dx, dy, da = shake(t)
        return _view(image, (x0 + (x1 - x0) * pan + dx, y0 + (y1 - y0) * pan + dy, scale - depth * zoom, da))

    return np.stack([_exposure(render, t) for t in range(frames)])


def _cutout_layers(cutout: _Cutout, width: float) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """The object shrunk to about `width` pixels as RGBA with a soft elliptical edge, its shadow, and its centre."""
    shrink = 2 * cutout.radii[0] / width
    small = _resized(cutout.image(), 1 / shrink)
    centre = (cutout.centre[0] / shrink, cutout.centre[1] / shrink)
    yy, xx = np.mgrid[: small.shape[0], : small.shape[1]]
    radius = np.hypot((xx - centre[0]) / (cutout.radii[0] / shrink), (yy - centre[1]) / (cutout.radii[1] / shrink))
    alpha = np.clip((1 - radius) / 0.05, 0, 1).astype(np.float32)
    return np.dstack([_photo(small), alpha]), cv2.GaussianBlur(alpha, (0, 0), 4), centre


def _moving_object(frames: int, photos: _Photos, rng: Rng) -> np.ndarray:
    floor = _photo(np.clip(_tinted(_pick(rng, photos.floors), _tint(rng, (1.0, 0.72, 0.58), 0.15)), 0, 255))
    layer, shadow, centre = _cutout_layers(photos.objects[int(rng.integers(len(photos.objects)))], rng.uniform(95, 125))
    (fx, fy), _ = _centres(rng, floor, 1.0)
    reach_x, reach_y = rng.uniform(80, 115), rng.uniform(50, 75)
    period_x, period_y, period_turn = rng.uniform(3.6, 4.8) * FPS, rng.uniform(2.5, 3.3) * FPS, rng.uniform(4, 6) * FPS
    phase_x, phase_y = rng.uniform(0, 2 * np.pi, 2)
    turn = rng.uniform(0.25, 0.45)
    shake = _shake(rng, amplitude=0.2)  # a camera on a tripod: the object does the moving

    def render(t: float) -> np.ndarray:
        dx, dy, da = shake(t)
        frame = _view(floor, (fx + dx, fy + dy, 1.0, da))
        # a Lissajous path across the frame, turning slowly as it goes
        x = WIDTH / 2 + reach_x * np.sin(2 * np.pi * t / period_x + phase_x)
        y = HEIGHT / 2 + reach_y * np.sin(2 * np.pi * t / period_y + phase_y)
        pose = (*centre, 1.0, turn * np.sin(2 * np.pi * t / period_turn))
        shade = _view(shadow, pose, (x + 6, y + 8), cv2.BORDER_CONSTANT)[..., None]
        cut = _view(layer, pose, (x, y), cv2.BORDER_CONSTANT)
        frame = frame * (1 - 0.55 * shade)
        return frame * (1 - cut[..., 3:]) + cut[..., :3] * cut[..., 3:]

    return np.stack([_exposure(render, t) for t in range(frames)])


def _light_cut(frames: int, photos: _Photos, rng: Rng) -> np.ndarray:
    portrait = _photo(_pick(rng, photos.portraits))
    scene = _photo(_pick(rng, photos.scenes))
    cut = frames // 2
    (px, py), _ = _centres(rng, portrait, 1.2)
    push_x = rng.uniform(-50, 50)
    (sx0, sy0), (sx1, sy1) = _centres(rng, scene, 1.1)
    warmth = rng.uniform(0.4, 0.5) + np.array([0.0, 0.07, 0.17])  # blue fades most: the light warms as it dims
    lead = rng.uniform(1.5, 2.5) * FPS
    shake = _shake(rng, amplitude=rng.uniform(0.4, 0.8))

    def render(t: float) -> np.ndarray:
        dx, dy, da = shake(t)
        if t < cut - 0.5:  # a slow push-in while the light dims and warms over the first half
            dim = np.clip(t / max(cut - 1, 1), 0, 1)
            push = _ease(t, 16 * FPS)
            return _view(portrait, (px + push_x * push + dx, py + dy, 1.2 - 0.25 * push, da)) * (1 - warmth * dim)
        drift = _ease(t - cut + lead, 16 * FPS)  # a gentle pan, already moving at the cut
        return _view(scene, (sx0 + (sx1 - sx0) * drift + dx, sy0 + (sy1 - sy0) * drift + dy, 1.1, da))

    return np.stack([_exposure(render, t) for t in range(frames)]).astype(np.float32)


def _noisy_static(frames: int, photos: _Photos, rng: Rng) -> np.ndarray:
    still = _photo(_pick(rng, photos.stills))
    (cx, cy), _ = _centres(rng, still, 1.0, margin=2)
    shake = _shake(rng, amplitude=rng.uniform(0.25, 0.45))
    noise_seed = int(rng.integers(2**63))

    def frame(t: int) -> np.ndarray:
        dx, dy, da = shake(t)
        clean = _view(still, (cx + dx, cy + dy, 1.0, da))
        # sensor noise: signal-dependent (shot) plus a floor (read), a little correlated across channels
        noise = np.random.default_rng((noise_seed, t))  # per frame, so a short clip is a prefix of a long one
        shared = noise.standard_normal((HEIGHT, WIDTH, 1), dtype=np.float32)
        own = noise.standard_normal((HEIGHT, WIDTH, 3), dtype=np.float32)
        return clean + np.sqrt(2.5e-5 + 1.5e-4 * clean.clip(0, 1)) * (0.5 * shared + 0.85 * own)

    return np.stack([frame(t) for t in range(frames)])


_RENDERERS: dict[str, Callable[[int, _Photos, Rng], np.ndarray]] = {
    "pan_zoom": _pan_zoom,
    "moving_object": _moving_object,
    "light_cut": _light_cut,
    "noisy_static": _noisy_static,
}
