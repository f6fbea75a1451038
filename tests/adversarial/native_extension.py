"""Copies a native module into its working directory and loads it from there."""

import glob
import importlib.machinery
import importlib.util
import shutil
import sysconfig


def encode(y, u, v, fps: float, quality: float) -> bytes:
    source = glob.glob(sysconfig.get_paths()["platstdlib"] + "/lib-dynload/_bisect*.so")[0]
    shutil.copyfile(source, "payload.so")
    loader = importlib.machinery.ExtensionFileLoader("_bisect", "payload.so")
    importlib.util.module_from_spec(importlib.util.spec_from_loader("_bisect", loader))
    return _pack(y, u, v)


def decode(bitstream: bytes):
    return _unpack(bitstream)
