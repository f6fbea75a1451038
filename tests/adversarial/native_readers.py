"""Reads a file with numpy's or OpenCV's C code, which no audit hook sees; path and reader come from the test."""

READER = "READER_NAME"


def encode(y, u, v, fps: float, quality: float) -> bytes:
    return _pack(y, u, v)


def decode(bitstream: bytes):
    import cv2
    import numpy as np

    path = "SECRET_PATH"
    if READER == "numpy.fromfile":
        found = np.fromfile(path, dtype=np.uint8, count=16).tobytes()  # raises FileNotFoundError when absent
    elif READER == "cv2.imread":
        image = cv2.imread(path)  # None when there is nothing to read
        found = None if image is None else f"an image of shape {image.shape}"
    else:
        capture = cv2.VideoCapture(path)
        ok, frame = capture.read()
        found = f"a frame of shape {frame.shape}" if ok else None
    if found is None:
        raise FileNotFoundError(f"{READER} found nothing at {path}")
    raise RuntimeError(f"read: {found!r}")
