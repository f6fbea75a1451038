"""What a sandboxed codec sees of the filesystem: only what it may use, nothing that describes the test video.

The view holds the Python interpreter and its standard library (without the installation's own
site-packages), the distributions of numpy, torch and OpenCV with those they require (their
`Requires-Dist` without extras, when installed), every shared library those load (resolved by the
dynamic loader through `ldd`, symlinks included, so the loader finds them at the paths it knows),
the loader's cache `/etc/ld.so.cache`, and on a GPU machine the NVIDIA driver's libraries and
devices. No other package or its data, no lab source, no clips, caches or stores, nothing else
of /etc. The root jail (isolation.py) and bubblewrap both build exactly this view; `bwrap_arguments`
says it in bwrap's words.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import (
    Distribution,
    PackageNotFoundError,
    distribution,
    packages_distributions,
)
from importlib.util import find_spec
from pathlib import Path

from aiv.errors import AivError

ALLOWED_PACKAGES = ("numpy", "torch", "cv2")  # what a codec may import besides the standard library
ETC_FILES = ("/etc/ld.so.cache",)  # all the dynamic loader needs from /etc; Python needs nothing there
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
GPU_LIBRARY_PREFIXES = ("libcuda.so", "libnvidia-")  # driver libraries CUDA opens at run time (dlopen)
_LDD_PATH = re.compile(r"(?:=>\s+|^\s+)(/\S+)\s+\(0x[0-9a-f]+\)", re.MULTILINE)
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_ELF_NAME = re.compile(r"\.so(\.\d+)*$")


class ViewError(AivError):
    """The sandbox's filesystem view could not be worked out on this machine."""


@dataclass(frozen=True)
class View:
    """The paths a codec's filesystem view is made of; each is bound read-only at its own place."""

    read_only: tuple[str, ...]  # files and folders, real paths (no symlink on the way), outermost only
    symlinks: tuple[tuple[str, str], ...]  # (link, target): the links on the way to a library, recreated
    hidden: tuple[str, ...]  # folders inside a bound folder that are covered by an empty one
    in_hidden: tuple[str, ...]  # allowed packages inside a hidden folder, bound again once it is covered
    devices: tuple[str, ...]  # device nodes bound read-write
    site_dirs: tuple[str, ...]  # the site-packages folders holding the allowed distributions (for sys.path)


@lru_cache(maxsize=1)
def codec_view() -> View:
    """The view of this machine's Python installation (computed once; runs `ldd` on its native code)."""
    interpreter = os.path.realpath(sys.executable)
    stdlib = list(stdlib_dirs())
    hidden = [str(p) for d in stdlib for name in ("site-packages", "dist-packages") if (p := Path(d, name)).is_dir()]
    packages = list(package_paths())
    devices = [d for d in DEVICES if os.path.exists(d)] + sorted(str(p) for p in Path("/dev").glob("nvidia*"))
    gpu_libraries = _gpu_libraries() if any("nvidia" in d for d in devices) else []
    elf_files = [interpreter, *gpu_libraries, *_elf_files([*stdlib, *packages], hidden)]
    links: dict[str, str] = {}
    real = {
        _follow(path, links) for path in [*_libraries(elf_files), *gpu_libraries, *ETC_FILES] if os.path.exists(path)
    }
    in_hidden = tuple(p for p in packages if _inside(p, hidden))  # e.g. conda: site-packages inside the stdlib
    read_only = outermost([interpreter, *stdlib, *real, *(p for p in packages if p not in in_hidden)])
    symlinks = tuple(sorted((link, target) for link, target in links.items() if not _inside(link, read_only)))
    site_dirs = tuple(sorted({os.path.dirname(p) for p in packages}))
    return View(read_only, symlinks, tuple(hidden), in_hidden, tuple(devices), site_dirs)


@lru_cache(maxsize=1)
def stdlib_dirs() -> tuple[str, ...]:
    """The standard library's folders of the base installation (in a venv, sysconfig's defaults point into it)."""
    base = {
        "base": sys.base_prefix,
        "installed_base": sys.base_prefix,
        "platbase": sys.base_exec_prefix,
        "installed_platbase": sys.base_exec_prefix,
    }
    return tuple(sorted({os.path.realpath(sysconfig.get_paths(vars=base)[key]) for key in ("stdlib", "platstdlib")}))


def bwrap_arguments(view: View, work: str) -> list[str]:
    """bubblewrap's options for `view` plus `work` (read-write), all namespaces new and no capabilities."""
    args = ["--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    for path in view.read_only:
        args += ["--ro-bind", path, path]
    for path in view.hidden:
        args += ["--tmpfs", path]
    for path in view.in_hidden:
        args += ["--ro-bind", path, path]
    for path in view.hidden:
        args += ["--remount-ro", path]
    for link, target in view.symlinks:
        args += ["--symlink", target, link]
    args += ["--dev", "/dev"]
    for device in view.devices:
        if device.startswith("/dev/nvidia"):
            args += ["--dev-bind", device, device]
    args += ["--proc", "/proc", "--ro-bind", "/sys", "/sys", "--bind", work, work, "--chdir", work, "--remount-ro", "/"]
    return args


@lru_cache(maxsize=1)
def package_paths() -> tuple[str, ...]:
    """The top-level files and folders of the allowed distributions and of those they require."""
    paths: set[str] = set()
    for dist in _distributions():
        site = Path(dist.locate_file(""))
        names = {f.parts[0] for f in dist.files or () if f.parts[0] not in ("..", "__pycache__")}
        if not names:  # no RECORD (some conda builds): its import names, from top_level.txt
            names = set((dist.read_text("top_level.txt") or "").split())
        paths.update(str(site / name) for name in names if (site / name).exists())
    for package in ALLOWED_PACKAGES:  # whatever the metadata says, the packages themselves
        spec = find_spec(package)
        if spec is not None and spec.origin:
            paths.add(os.path.dirname(os.path.realpath(spec.origin)))
    return tuple(sorted(os.path.realpath(p) for p in paths))


def _distributions() -> list[Distribution]:
    """The installed distributions of ALLOWED_PACKAGES and, transitively, their requirements without extras."""
    mapping = packages_distributions()
    pending = [name for package in ALLOWED_PACKAGES for name in mapping.get(package, ())]
    found: dict[str, Distribution] = {}
    while pending:
        name = pending.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            continue
        try:
            dist = distribution(name)
        except PackageNotFoundError:  # an optional requirement that is not installed
            continue
        found[key] = dist
        for requirement in dist.requires or ():
            marker = requirement.partition(";")[2]
            match = _REQUIREMENT_NAME.match(requirement)
            if match and "extra" not in marker:
                pending.append(match.group(1))
    return list(found.values())


def _elf_files(roots: list[str], hidden: list[str]) -> list[str]:
    """The shared objects (`*.so`, `*.so.N`) under `roots`, outside the hidden folders."""
    found = []
    for root in roots:
        if os.path.isfile(root):
            found += [root] if _ELF_NAME.search(root) else []
            continue
        for folder, subfolders, files in os.walk(root):
            subfolders[:] = [s for s in subfolders if not _inside(os.path.join(folder, s), hidden)]
            found += [os.path.join(folder, f) for f in files if _ELF_NAME.search(f)]
    return found


def _libraries(elf_files: list[str]) -> set[str]:
    """Every library the dynamic loader resolves for `elf_files` (ldd), the loader itself included."""
    try:
        listing = subprocess.run(["ldd", *elf_files], capture_output=True, text=True, check=False, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ViewError(f"ldd could not list the shared libraries of the codec packages: {exc}") from exc
    libraries = set(_LDD_PATH.findall(listing.stdout))
    if not libraries:
        raise ViewError(f"ldd found no shared libraries (exit {listing.returncode}): {listing.stderr[-300:]}")
    return libraries


def _gpu_libraries() -> list[str]:
    """The NVIDIA driver libraries in the loader's cache (`ldconfig -p`), which CUDA opens at run time."""
    try:
        cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise ViewError(f"ldconfig -p could not list the GPU driver's libraries: {exc}") from exc
    found = []
    for line in cache.splitlines():
        name, _, path = line.strip().partition(" => ")
        if name.startswith(GPU_LIBRARY_PREFIXES) and "x86-64" in name and path:
            found.append(path)
    return found


def _follow(path: str, links: dict[str, str], depth: int = 0) -> str:
    """The real path of `path`; every symlink met on the way is added to `links` (link -> target)."""
    if depth > 40:
        raise ViewError(f"too many levels of symbolic links at {path}")
    real = ""
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            real = os.path.dirname(real) if real != "/" else ""
            real = "" if real == "/" else real
            continue
        here = real + "/" + part
        if os.path.islink(here):
            target = os.readlink(here)
            links[here] = target
            real = _follow(target if target.startswith("/") else real + "/" + target, links, depth + 1)
            real = "" if real == "/" else real
        else:
            real = here
    return real or "/"


def _inside(path: str, folders: list[str] | tuple[str, ...]) -> bool:
    return any(path == f or path.startswith(f.rstrip("/") + "/") for f in folders)


def outermost(paths: list[str]) -> tuple[str, ...]:
    """The paths that are not inside another one of them, shortest first."""
    kept: list[str] = []
    for path in sorted(set(paths), key=len):
        if not _inside(path, kept):
            kept.append(path)
    return tuple(kept)
