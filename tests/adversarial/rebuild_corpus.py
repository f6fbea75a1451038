"""Rebuilds the built-in clip noisy_static from package files instead of coding it: a 2-byte bitstream.

The decoder finds scikit-image's chelsea.png beside torch, reads it with torch.from_file (C++, no
audit event) and replays aiv/video/corpus.py's rendering with its fixed seeds. It needs the photo,
so a sandbox whose view holds no other packages leaves it nothing to rebuild from.
"""

import os
import struct

import cv2
import numpy as np
import torch

WIDTH, HEIGHT, FPS = 352, 288, 30.0
YCBCR_FROM_RGB = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]])


def encode(y, u, v, fps: float, quality: float) -> bytes:
    return struct.pack("<H", y.shape[0])


def _photo():
    path = os.path.dirname(os.path.dirname(torch.__file__)) + "/skimage/data/chelsea.png"
    png = torch.from_file(path, size=os.stat(path).st_size, dtype=torch.uint8).numpy()
    rgb = cv2.cvtColor(cv2.imdecode(png, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return cv2.GaussianBlur(rgb.astype(np.float32) / 255.0, (0, 0), 0.6)


def _view(image, pose):
    cx, cy, scale, angle = pose
    ax, ay = (WIDTH - 1) / 2, (HEIGHT - 1) / 2
    cos, sin = scale * np.cos(angle), scale * np.sin(angle)
    matrix = np.array([[cos, -sin, cx - cos * ax + sin * ay], [sin, cos, cy - sin * ax - cos * ay]], np.float32)
    return cv2.warpAffine(image, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT_101)


def _shake(t):
    rng = np.random.default_rng(41)
    freqs = rng.uniform(0.5, 4.0, (3, 4)) / FPS
    phases = rng.uniform(0, 2 * np.pi, (3, 4))
    weights = np.array([0.35, 0.35, 0.35 * 0.002])[:, None] / 2
    return (weights * np.sin(2 * np.pi * freqs * t + phases)).sum(axis=1)


def decode(bitstream: bytes):
    (frames,) = struct.unpack("<H", bitstream)
    cat = _photo()
    rendered = []
    for t in range(frames):
        dx, dy, da = _shake(t)
        clean = _view(cat, (225 + dx, 150 + dy, 1.0, da))
        rng = np.random.default_rng((53, t))
        shared = rng.standard_normal((HEIGHT, WIDTH, 1), dtype=np.float32)
        own = rng.standard_normal((HEIGHT, WIDTH, 3), dtype=np.float32)
        rendered.append(clean + np.sqrt(2.5e-5 + 1.5e-4 * clean.clip(0, 1)) * (0.5 * shared + 0.85 * own))
    rgb = np.clip(np.stack(rendered), 0.0, 1.0).astype(np.float32)
    ycc = rgb @ YCBCR_FROM_RGB.T.astype(np.float32)
    ycc += np.array([16, 128, 128], np.float32)
    chroma = ycc[..., 1:].reshape(frames, HEIGHT // 2, 2, WIDTH // 2, 2, 2).mean(axis=(2, 4))
    planes = (ycc[..., 0], chroma[..., 0], chroma[..., 1])
    return tuple(np.rint(p).clip(0, 255).astype(np.uint8) for p in planes)
