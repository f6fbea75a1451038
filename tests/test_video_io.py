"""Reading and writing clips: y4m, raw .yuv, containers and Annex B streams through PyAV, folders."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from aiv.errors import ClipError
from aiv.video.clip import Clip
from aiv.video.readers import SUPPORTED_SUFFIXES, load_clips, parse_yuv_name, read_clip
from aiv.video.y4m import read_y4m, write_y4m

CLIPS = Path(__file__).resolve().parents[2] / "shared" / "clips"
NTSC = 30000 / 1001


def random_clip(frames: int = 3, height: int = 16, width: int = 24, fps: float = 25.0, name: str = "rnd") -> Clip:
    rng = np.random.default_rng(7)
    planes = [
        rng.integers(0, 256, (frames, h, w), dtype=np.uint8)
        for h, w in ((height, width), (height // 2, width // 2), (height // 2, width // 2))
    ]
    return Clip(name, *planes, fps=fps)


def raw_bytes(clip: Clip) -> bytes:
    return b"".join(p[t].tobytes() for t in range(clip.frames) for p in (clip.y, clip.u, clip.v))


def moving_rgb(frames: int, height: int, width: int) -> np.ndarray:
    """Smooth moving colour gradients: content a real encoder reproduces closely."""
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    out = [
        np.stack(
            [128 + 100 * np.sin((xx + 2 * t) / 9), 128 + 100 * np.cos((yy - t) / 7), 128 + 60 * np.sin((xx + yy) / 13)],
            axis=-1,
        )
        for t in range(frames)
    ]
    return np.clip(out, 0, 255).astype(np.uint8)


def encode(
    path: Path,
    rgb: np.ndarray,
    rate: Fraction | int = Fraction(30000, 1001),
    pix_fmt: str = "yuv420p",
    fmt: str | None = None,
    options: dict[str, str] | None = None,
    codec: str = "libx264",
) -> None:
    """Encode `rgb` frames into `path` (a container, or Annex B with fmt="h264"/"hevc")."""
    with av.open(str(path), "w", format=fmt, options=options or {}) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.height, stream.width = rgb.shape[1:3]
        stream.pix_fmt = pix_fmt
        stream.options = {"preset": "ultrafast", "crf": "8"} | (
            {"x265-params": "log-level=error"} if codec == "libx265" else {}
        )
        for image in rgb:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / np.mean((a.astype(np.float64) - b) ** 2)))


def rgb_reference(rgb: np.ndarray) -> np.ndarray:
    """BT.601 limited-range luma of `rgb`, which is what libx264 is fed by PyAV's conversion."""
    return 16 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255


# --- y4m --------------------------------------------------------------------------------------------


def test_y4m_round_trip(tmp_path: Path) -> None:
    clip = random_clip()
    write_y4m(tmp_path / "a.y4m", clip)
    assert (tmp_path / "a.y4m").read_bytes().startswith(b"YUV4MPEG2 W24 H16 F25:1 Ip A1:1 C420jpeg\nFRAME\n")
    back = read_y4m(tmp_path / "a.y4m", name="rnd")
    assert back.sha256 == clip.sha256 and back.notes == () and back.source == str(tmp_path / "a.y4m")
    assert read_y4m(tmp_path / "a.y4m").name == "a"


def test_y4m_ntsc_rate_round_trips_exactly(tmp_path: Path) -> None:
    write_y4m(tmp_path / "n.y4m", random_clip(fps=NTSC))
    assert b" F30000:1001 " in (tmp_path / "n.y4m").read_bytes()[:80]
    assert read_y4m(tmp_path / "n.y4m").fps == NTSC


def test_y4m_rate_override_is_noted(tmp_path: Path) -> None:
    write_y4m(tmp_path / "a.y4m", random_clip(fps=25.0))
    clip = read_clip(tmp_path / "a.y4m", fps=50)
    assert clip.fps == 50.0 and clip.notes == ("frame rate 50 given; the y4m header says 25",)
    assert read_clip(tmp_path / "a.y4m", fps=25).notes == ()


def test_y4m_frames_limit_reads_a_prefix(tmp_path: Path) -> None:
    clip = random_clip(frames=5)
    write_y4m(tmp_path / "a.y4m", clip)
    two = read_y4m(tmp_path / "a.y4m", frames=2)
    assert two.frames == 2 and np.array_equal(two.v, clip.v[:2])


@pytest.mark.parametrize("tag", [b" C420", b" C420mpeg2", b" C420paldv", b""])
def test_y4m_accepts_every_8bit_420_tag(tmp_path: Path, tag: bytes) -> None:
    clip = random_clip()
    write_y4m(tmp_path / "a.y4m", clip)
    (tmp_path / "a.y4m").write_bytes((tmp_path / "a.y4m").read_bytes().replace(b" C420jpeg", tag, 1))
    assert np.array_equal(read_y4m(tmp_path / "a.y4m").y, clip.y)


@pytest.mark.parametrize("tag", ["422", "444", "mono", "420p10"])
def test_y4m_rejects_other_formats_by_name(tmp_path: Path, tag: str) -> None:
    (tmp_path / "a.y4m").write_bytes(f"YUV4MPEG2 W4 H4 F25:1 C{tag}\nFRAME\n".encode() + bytes(64))
    with pytest.raises(ClipError, match=f"C{tag} is not supported"):
        read_y4m(tmp_path / "a.y4m")


def test_y4m_truncated_last_frame_is_dropped_with_a_note(tmp_path: Path) -> None:
    clip = random_clip(frames=3)
    write_y4m(tmp_path / "a.y4m", clip)
    (tmp_path / "a.y4m").write_bytes((tmp_path / "a.y4m").read_bytes()[:-10])
    back = read_y4m(tmp_path / "a.y4m")
    assert back.frames == 2 and np.array_equal(back.y, clip.y[:2])
    assert back.notes == ("file truncated: frame 2 has 566 of 576 bytes; kept 2 whole frames",)


def test_y4m_without_a_whole_frame_is_an_error(tmp_path: Path) -> None:
    write_y4m(tmp_path / "a.y4m", random_clip(frames=1))
    (tmp_path / "a.y4m").write_bytes((tmp_path / "a.y4m").read_bytes()[:-1])
    with pytest.raises(ClipError, match="no whole frame.*truncated"):
        read_y4m(tmp_path / "a.y4m")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x00\x01garbage" * 50, "not a y4m file"),
        (b"YUV4MPEG2 W4 F25:1\nFRAME\n" + bytes(24), "no valid width and height"),
        (b"YUV4MPEG2 W4 H4 F25:0\nFRAME\n" + bytes(24), "no valid frame rate"),
        (b"YUV4MPEG2 W4 H4 F25:1\nFRAME\n" + bytes(24) + b"JUNK!\n" + bytes(24), "no FRAME marker for frame 1"),
    ],
)
def test_y4m_corrupt_headers_are_errors(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "bad.y4m").write_bytes(content)
    with pytest.raises(ClipError, match=message):
        read_clip(tmp_path / "bad.y4m")


def test_y4m_odd_size_is_cropped_with_a_note(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, 15 * 9 + 2 * 8 * 5, dtype=np.uint8)
    (tmp_path / "odd.y4m").write_bytes(b"YUV4MPEG2 W15 H9 F24:1 C420jpeg\nFRAME\n" + frame.tobytes())
    clip = read_y4m(tmp_path / "odd.y4m")
    assert (clip.width, clip.height) == (14, 8) and clip.notes == ("cropped 15x9 to 14x8",)
    assert np.array_equal(clip.y[0], frame[:135].reshape(9, 15)[:8, :14])
    assert np.array_equal(clip.v[0], frame[175:].reshape(5, 8)[:4, :7])


# --- raw .yuv ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stem, size, fps",
    [
        ("foreman_352x288_30", (352, 288), 30.0),
        ("x_352x288_29.97fps", (352, 288), 29.97),
        ("akiyo_cif_25fps", (352, 288), 25.0),
        ("talk-1280x720-60hz-crop", (1280, 720), 60.0),
        ("news_qcif", (176, 144), None),
        ("clip_7", None, None),
    ],
)
def test_yuv_name_parsing(stem: str, size: tuple[int, int] | None, fps: float | None) -> None:
    assert parse_yuv_name(stem) == (size, fps)


def test_yuv_size_and_rate_from_the_name(tmp_path: Path) -> None:
    clip = random_clip(frames=4)
    (tmp_path / "moving_24x16_50.yuv").write_bytes(raw_bytes(clip))
    back = read_clip(tmp_path / "moving_24x16_50.yuv", frames=3)
    assert (back.name, back.frames, back.fps, back.notes) == ("moving_24x16_50", 3, 50.0, ())
    assert np.array_equal(back.u, clip.u[:3])


def test_yuv_size_and_rate_from_arguments_win_with_a_note(tmp_path: Path) -> None:
    clip = random_clip(frames=2)
    (tmp_path / "plain.yuv").write_bytes(raw_bytes(clip))
    assert read_clip(tmp_path / "plain.yuv", size=(24, 16), fps=25).sha256 == clip.sha256
    (tmp_path / "s_12x32_30.yuv").write_bytes(raw_bytes(clip))
    back = read_clip(tmp_path / "s_12x32_30.yuv", size=(24, 16), fps=25)
    assert back.sha256 == clip.sha256
    assert back.notes == ("size 24x16 given; the file name says 12x32", "frame rate 25 given; the file name says 30")


def test_yuv_without_size_or_rate_asks_for_them(tmp_path: Path) -> None:
    (tmp_path / "plain.yuv").write_bytes(raw_bytes(random_clip()))
    with pytest.raises(ClipError, match="size and frame rate unknown: pass --size WxH / --fps"):
        read_clip(tmp_path / "plain.yuv")
    with pytest.raises(ClipError, match="frame rate unknown"):
        read_clip(tmp_path / "plain.yuv", size=(24, 16))


def test_yuv_wrong_size_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a_24x16_25.yuv").write_bytes(raw_bytes(random_clip(frames=3)))
    with pytest.raises(ClipError, match="not a whole number of 20x16 4:2:0 frames"):
        read_clip(tmp_path / "a_24x16_25.yuv", size=(20, 16))


# --- PyAV: containers and Annex B -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name, fmt, codec",
    [
        ("enc.mp4", None, "libx264"),
        ("enc.mkv", None, "libx264"),
        ("enc.264", "h264", "libx264"),
        ("enc.hevc", "hevc", "libx265"),
    ],
)
def test_pyav_reads_a_real_encode(tmp_path: Path, name: str, fmt: str | None, codec: str) -> None:
    rgb = moving_rgb(6, 48, 64)
    encode(tmp_path / name, rgb, fmt=fmt, codec=codec)
    clip = read_clip(tmp_path / name)
    assert (clip.name, clip.frames, clip.width, clip.height, clip.fps) == ("enc", 6, 64, 48, NTSC)
    assert clip.notes == ()  # x264/x265 store the rate in the stream's timing info, even in Annex B
    assert psnr(clip.y, rgb_reference(rgb.astype(np.float64))) > 35
    assert clip.u.shape == (6, 24, 32) and 90 < clip.u.mean() < 166


def test_pyav_frames_limit_and_rate_override(tmp_path: Path) -> None:
    encode(tmp_path / "enc.mp4", moving_rgb(6, 48, 64), rate=30)
    full = read_clip(tmp_path / "enc.mp4")
    clip = read_clip(tmp_path / "enc.mp4", frames=2, fps=25)
    assert clip.frames == 2 and clip.fps == 25 and np.array_equal(clip.y, full.y[:2])
    assert clip.notes == ("frame rate 25 given; the container says 30",)


def test_pyav_odd_size_and_other_pixel_format_are_converted_with_notes(tmp_path: Path) -> None:
    encode(tmp_path / "odd.mkv", moving_rgb(2, 49, 65), rate=25, pix_fmt="yuv444p")
    clip = read_clip(tmp_path / "odd.mkv")
    assert (clip.width, clip.height, clip.u.shape) == (64, 48, (2, 24, 32))
    assert clip.notes == ("converted yuv444p to 8-bit yuv420p", "cropped 65x49 to 64x48")


def test_truncated_annex_b_keeps_the_frames_before_the_damage(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    encode(tmp_path / "full.264", rng.integers(0, 256, (12, 48, 64, 3), dtype=np.uint8), fmt="h264")
    data = (tmp_path / "full.264").read_bytes()
    (tmp_path / "cut.264").write_bytes(data[: len(data) * 2 // 3])
    full, cut = read_clip(tmp_path / "full.264"), read_clip(tmp_path / "cut.264")
    assert 0 < cut.frames < full.frames and np.array_equal(cut.y, full.y[: cut.frames])
    assert len(cut.notes) == 1 and f"kept {cut.frames} frames" in cut.notes[0]


def test_truncated_mp4_is_an_error_or_a_noted_short_read(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    frames = rng.integers(0, 256, (12, 48, 64, 3), dtype=np.uint8)
    encode(tmp_path / "tail.mp4", frames)  # index (moov) at the end: cut off, nothing is readable
    encode(tmp_path / "fast.mp4", frames, options={"movflags": "faststart"})  # index first
    for name in ("tail.mp4", "fast.mp4"):
        data = (tmp_path / name).read_bytes()
        (tmp_path / f"cut_{name}").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ClipError, match="cut_tail.mp4: cannot open as video"):
        read_clip(tmp_path / "cut_tail.mp4")
    cut = read_clip(tmp_path / "cut_fast.mp4")
    assert cut.frames < 12
    assert cut.notes == (
        f"the file declares 12 frames but only {cut.frames} could be decoded (truncated file?); kept those",
    )


@pytest.mark.parametrize("name", ["junk.mp4", "junk.264", "junk.hevc", "junk.mkv"])
def test_garbage_is_an_error_naming_the_file(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(np.random.default_rng(5).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(ClipError, match=f"{name}: (cannot open as video|cannot decode|no decodable video frames)"):
        read_clip(tmp_path / name)


def test_audio_only_file_has_no_video_stream(tmp_path: Path) -> None:
    with av.open(str(tmp_path / "sound.mp4"), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with pytest.raises(ClipError, match="sound.mp4: has no video stream"):
        read_clip(tmp_path / "sound.mp4")


def test_missing_and_unsupported_files_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ClipError, match="nothere.mp4: no such file"):
        read_clip(tmp_path / "nothere.mp4")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ClipError, match="unsupported file type '.txt'"):
        read_clip(tmp_path / "notes.txt")


# --- folders ----------------------------------------------------------------------------------------


def test_load_clips_from_files_and_folders(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    (folder / "deeper").mkdir(parents=True)
    write_y4m(folder / "b.y4m", random_clip(frames=4))
    (folder / "a_24x16_25.yuv").write_bytes(raw_bytes(random_clip(frames=2)))
    (folder / "readme.txt").write_text("not a clip")
    write_y4m(folder / "deeper" / "c.y4m", random_clip())  # not recursive
    write_y4m(tmp_path / "b.y4m", random_clip(frames=1))
    clips = load_clips([folder, str(tmp_path / "b.y4m"), tmp_path / "b.y4m"], frames=3)
    assert [(c.name, c.frames) for c in clips] == [("a_24x16_25", 2), ("b", 3), ("b-2", 1), ("b-3", 1)]
    assert clips[2].source == str(tmp_path / "b.y4m")


def test_load_clips_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ClipError, match="empty: folder has no supported clip files"):
        load_clips([tmp_path / "empty"])
    with pytest.raises(ClipError, match="gone: no such file or folder"):
        load_clips([tmp_path / "gone"])
    with pytest.raises(ClipError, match="no clip files or folders given"):
        load_clips([])


def test_supported_suffixes() -> None:
    assert set(SUPPORTED_SUFFIXES) == {
        ".y4m",
        ".yuv",
        ".mp4",
        ".mkv",
        ".webm",
        ".avi",
        ".mov",
        ".264",
        ".h264",
        ".265",
        ".hevc",
        ".ivf",
    }


# --- the real clips (skipped when ../shared/clips is absent) ---------------------------------------


@pytest.mark.clips
@pytest.mark.skipif(not (CLIPS / "foreman_cif.264").is_file(), reason="no shared clips")
def test_real_annex_b_clip_notes_the_assumed_rate() -> None:
    clip = read_clip(CLIPS / "foreman_cif.264", frames=5)
    assert (clip.frames, clip.width, clip.height, clip.fps) == (5, 352, 288, 25.0)
    assert clip.notes == ("frame rate not stored in the file; assumed 25 (ffmpeg's guess), pass --fps to override",)
    assert 60 < clip.y.mean() < 200 and clip.y.std() > 20  # real picture content, not a flat or empty frame
    assert read_clip(CLIPS / "foreman_cif.264", frames=5, fps=NTSC).notes == ()


@pytest.mark.clips
@pytest.mark.skipif(not (CLIPS / "akiyo_cif.mp4").is_file(), reason="no shared clips")
def test_real_mp4_clip() -> None:
    clip = read_clip(CLIPS / "akiyo_cif.mp4", frames=3, fps=NTSC)
    assert (clip.frames, clip.width, clip.height, clip.fps) == (3, 352, 288, NTSC)
    assert clip.notes == ("frame rate 29.97 given; the container says 25",)
