"""The embedded ArtifactStore: one file per key under a root folder, written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import quote

from aiv.store.ports import check_artifact_key


class LocalArtifactStore:
    """ArtifactStore on a local folder; key 'code/<sha>.py' is the file root/code/<sha>.py.

    No content type is kept: the local dashboard, which serves `/artifacts/<key>`, guesses it
    from the key's extension.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        """The file that holds (or would hold) `key`; ValueError for an invalid key."""
        return self.root.joinpath(*check_artifact_key(key).split("/"))

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Write `data` under `key`: a temporary file in the same folder, fsynced, then renamed over it."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), 0o644)  # mkstemp makes it 0600; artifacts are readable files
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        """The bytes under `key`; KeyError when absent."""
        target = self.path(key)
        try:
            return target.read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise KeyError(key) from None

    def exists(self, key: str) -> bool:
        """Whether `key` holds data."""
        return self.path(key).is_file()

    def url(self, key: str, expires_s: int = 3600) -> str:
        """The local dashboard's route for `key` (it does not expire; `expires_s` is for S3's presigned URLs)."""
        return f"/artifacts/{quote(check_artifact_key(key))}"
