"""Where the built-in corpus's secret lives: a campaign keeps it in its store, `aiv evaluate` in the cache.

The secret decides what the built-in clips show (aiv/video/corpus.py). It is created once and
then only read, so one store (or one cache) always measures on the same clips. Neither place is
inside a codec's sandbox.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol

from aiv.errors import AivError
from aiv.names import CORPUS_SECRET_STATE
from aiv.video.corpus import SECRET_BYTES, new_secret

STATE_KEY = CORPUS_SECRET_STATE  # the store's state document holding {"hex": ...}
FILE_NAME = "corpus-secret"


class StateStore(Protocol):
    """The part of an ExperimentStore the secret needs."""

    def get_state(self, key: str) -> dict | None: ...

    def swap_state(self, key: str, expected: dict | None, value: dict) -> bool: ...


def store_secret(experiments: StateStore) -> bytes:
    """The store's corpus secret, created on first use.

    A new one is written only if the store still holds none (a compare-and-swap), and the document is
    read back, so two runs that start an empty store at once use the same secret: the first write's.
    """
    document = experiments.get_state(STATE_KEY)
    if document is None:
        experiments.swap_state(STATE_KEY, None, {"hex": new_secret().hex()})
        document = experiments.get_state(STATE_KEY)
    return _decode(document, f"the store's state document {STATE_KEY!r}")


def file_secret(cache_dir: Path) -> bytes:
    """The corpus secret kept in `cache_dir`/corpus-secret (mode 0600), created on first use."""
    path = Path(cache_dir) / FILE_NAME
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".corpus-secret-", delete=False) as out:
            out.write(new_secret().hex() + "\n")  # NamedTemporaryFile creates it 0600
        try:
            os.link(out.name, path)  # whole file or nothing; an existing secret is never replaced
        except FileExistsError:
            pass
        finally:
            os.unlink(out.name)
    return _decode({"hex": path.read_text().strip()}, str(path))


def _decode(document: dict | None, where: str) -> bytes:
    try:
        secret = bytes.fromhex(document["hex"])  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        raise AivError(f"{where} does not hold a corpus secret (hex); it was changed by hand?") from None
    if len(secret) != SECRET_BYTES:
        raise AivError(f"{where} holds a {len(secret)}-byte corpus secret, expected {SECRET_BYTES}")
    return secret
