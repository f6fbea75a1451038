"""What each built-in clip shows, in words, for people and prompts (plain constants: no numpy).

aiv/video/corpus.py renders them; a clip file has no description unless its source says one.
"""

from __future__ import annotations

BUILTIN_PREFIX = "builtin:"  # a built-in clip's `source`, followed by its name

CORPUS_CONTENT: dict[str, str] = {
    "pan_zoom": "a slow pan and zoom across a garage with a motorcycle (global motion)",
    "moving_object": "a coffee cup sliding and turning over a brick floor (local motion)",
    "light_cut": "a portrait whose light dims, then a scene cut to a rocket launch pad with a slow pan",
    "noisy_static": "a cat sitting still, with sensor noise and slight camera jitter",
}


def content_of(source: str) -> str | None:
    """The description of the clip whose `source` is `source`, or None when there is none."""
    return CORPUS_CONTENT.get(source.removeprefix(BUILTIN_PREFIX)) if source.startswith(BUILTIN_PREFIX) else None
