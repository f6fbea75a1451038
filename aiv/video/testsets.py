"""The catalogue of named public test sequences and sets that `aiv clips fetch` knows how to download.

A sequence is one downloadable file with what it should be (geometry, frame rate) and where it
comes from; a set is a list of sequences with a default validation split. `sha256` is recorded
only where a hash has been published for that exact file; otherwise the first download pins it
(aiv/video/library.py). Geometry is checked after conversion; the file's own frame rate is used.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiv.errors import UsageError

DERF = "https://media.xiph.org/video/derf/y4m/"
DERF_LICENCE = (
    "Xiph.org 'derf' collection: redistributed for video coding research; the copyright stays "
    "with the original owners (see https://media.xiph.org/video/derf/)"
)
SVT_LICENCE = (
    "SVT high-definition multi-format test set, distributed through the Xiph.org derf collection for "
    "research use; see https://media.xiph.org/video/derf/ for its terms"
)
NTSC = 30000 / 1001


@dataclass(frozen=True)
class Sequence:
    """One public test sequence: its download and what it is."""

    name: str  # the clip's name in the lab, and its file stem
    url: str
    width: int
    height: int
    fps: float
    content: str
    licence: str
    sha256: str | None = None  # a published hash of the download, when there is one


@dataclass(frozen=True)
class NamedSet:
    """A named list of sequences with the ones held out for validation."""

    name: str
    description: str
    sequences: tuple[str, ...]
    validation: tuple[str, ...]


def _derf(
    name: str, width: int, height: int, fps: float, content: str, licence: str = DERF_LICENCE, sha256: str | None = None
) -> Sequence:
    return Sequence(name, f"{DERF}{name}.y4m", width, height, fps, content, licence, sha256)


_CIF = (
    ("akiyo_cif", "news presenter, almost static"),
    ("bus_cif", "a bus passing, fast pan"),
    ("coastguard_cif", "boats on a river, camera pan and water"),
    ("container_cif", "a container ship, very slow motion"),
    ("flower_cif", "flower garden, strong parallax pan"),
    ("foreman_cif", "talking head, shaky hand-held camera, pan to a building site"),
    ("hall_monitor_cif", "surveillance camera, people walking"),
    ("mobile_cif", "toy train and calendar, detailed texture, several motions"),
    ("mother_daughter_cif", "two people talking, low motion"),
    ("news_cif", "two presenters and a dancing screen"),
    ("stefan_cif", "tennis player, fast pan and zoom"),
    ("tempete_cif", "leaves in wind, zoom out"),
)

SEQUENCES: dict[str, Sequence] = {
    seq.name: seq
    for seq in (
        *(_derf(name, 352, 288, NTSC, content) for name, content in _CIF),
        _derf(
            "bus_qcif_15fps",
            176,
            144,
            15,
            "a bus passing, fast pan (QCIF, 15 fps)",
            sha256="868fc3446d37d0c6959a48b68906486bd64788b2e795f0e29613cbb1fa73480e",
        ),
        _derf(
            "bus_qcif_7.5fps",
            176,
            144,
            7.5,
            "a bus passing, fast pan (QCIF, 7.5 fps)",
            sha256="1f5bfcce0c881567ea31c1eb9ecb1da9f9583fdb7d6bb1c80a8c9acfc6b66f6b",
        ),
        _derf("KristenAndSara_1280x720_60", 1280, 720, 60, "video conference, two people, static camera"),
        _derf("720p50_parkrun_ter", 1280, 720, 50, "a man running in a park, pan over detailed trees", SVT_LICENCE),
        _derf("720p50_shields_ter", 1280, 720, 50, "a man walking past shields, pan then zoom", SVT_LICENCE),
        _derf("crowd_run_1080p50", 1920, 1080, 50, "a crowd of runners, complex motion", SVT_LICENCE),
        _derf("park_joy_1080p50", 1920, 1080, 50, "people running past trees, fast pan, detail", SVT_LICENCE),
        _derf("old_town_cross_1080p50", 1920, 1080, 50, "old town roofs, slow pan", SVT_LICENCE),
    )
}

SETS: dict[str, NamedSet] = {
    test_set.name: test_set
    for test_set in (
        NamedSet(
            "derf-cif",
            "the classic CIF (352x288) derf sequences",
            tuple(name for name, _ in _CIF),
            validation=("foreman_cif", "mobile_cif", "news_cif"),
        ),
        NamedSet(
            "derf-qcif-bus",
            "bus at QCIF, two frame rates; small downloads with published hashes",
            ("bus_qcif_15fps", "bus_qcif_7.5fps"),
            validation=("bus_qcif_7.5fps",),
        ),
        NamedSet(
            "derf-720p",
            "720p sequences (large uncompressed downloads)",
            ("KristenAndSara_1280x720_60", "720p50_parkrun_ter", "720p50_shields_ter"),
            validation=("720p50_shields_ter",),
        ),
        NamedSet(
            "derf-1080p",
            "1080p50 SVT sequences (very large uncompressed downloads)",
            ("crowd_run_1080p50", "park_joy_1080p50", "old_town_cross_1080p50"),
            validation=("old_town_cross_1080p50",),
        ),
    )
}


def sequences_named(names: list[str]) -> list[Sequence]:
    """The sequences `names` stand for, set names expanded in order, each once; UsageError for an unknown name."""
    found: dict[str, Sequence] = {}
    for name in names:
        if name in SETS:
            found.update((seq, SEQUENCES[seq]) for seq in SETS[name].sequences)
        elif name in SEQUENCES:
            found[name] = SEQUENCES[name]
        else:
            raise UsageError(
                f"no test set or sequence named {name!r}; `aiv clips list` shows them (sets: {', '.join(SETS)})"
            )
    return list(found.values())
