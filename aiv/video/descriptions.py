"""What each kind of built-in clip shows, in words, for people and prompts (plain constants: no numpy).

aiv/video/corpus.py renders them (the photographs and the motion come from the store's secret; the
kind of content is fixed by the name, and a `val_` clip is the same kind from other photographs).
A clip file has no description.
"""

from __future__ import annotations

BUILTIN_PREFIX = "builtin:"  # a built-in clip's `source`, followed by its name
VALIDATION_PREFIX = "val_"  # a validation clip's name, followed by its kind

CORPUS_CONTENT: dict[str, str] = {
    "pan_zoom": "a slow pan and zoom across a wide scene (global motion)",
    "moving_object": "a round object sliding and turning over a floor (local motion)",
    "light_cut": "a portrait whose light dims, then a scene cut to another scene with a slow pan",
    "noisy_static": "a still scene with sensor noise and slight camera jitter",
}


def content_of(source: str) -> str | None:
    """The description of the clip whose `source` is `source`, or None when there is none."""
    if not source.startswith(BUILTIN_PREFIX):
        return None
    return CORPUS_CONTENT.get(source.removeprefix(BUILTIN_PREFIX).removeprefix(VALIDATION_PREFIX))
