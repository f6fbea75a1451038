"""The static policy: allowed imports only, no escape hatches, the contract's two functions."""

import pytest

from aiv.codec.contract import builtin_source
from aiv.codec.policy import PolicyViolation, check_policy

GOOD = """
import numpy as np
import zlib
from collections import Counter
def encode(y, u, v, fps, quality):
    return zlib.compress(y.tobytes())
def decode(bitstream):
    return None
"""


def violation(source: str) -> str:
    with pytest.raises(PolicyViolation) as info:
        check_policy(source)
    return str(info.value)


def test_a_plain_module_passes(tiny_codec_source):
    check_policy(GOOD)
    check_policy(tiny_codec_source)


@pytest.mark.parametrize("name", ["intra", "hybrid"])
def test_the_builtin_codecs_pass(name):
    check_policy(builtin_source(name).source)


@pytest.mark.parametrize(
    "line, expected",
    [
        ("import os", "import of 'os' is not allowed"),
        ("import subprocess", "import of 'subprocess'"),
        ("from socket import socket", "import of 'socket'"),
        ("import numpy.ctypeslib", "forbidden attribute 'ctypeslib'"),
        ("from . import x", "relative import"),
        ("x = open('/etc/passwd').read()", "use of 'open'"),
        ("x = eval('1')", "use of 'eval'"),
        ("x = __import__('os')", "use of '__import__'"),
        ("x = getattr(zlib, 'compress')", "use of 'getattr'"),
        ("x = ().__class__.__bases__", "'.__bases__'"),
        ("x = encode.__globals__", "'.__globals__'"),
        ("import numpy as np\nx = np.load('/tmp/a.npy')", "'.load'"),
        ("import cv2\nx = cv2.imread('/x.png')", "'.imread'"),
    ],
)
def test_escape_hatches_are_named_with_their_line(line, expected):
    message = violation(GOOD + line + "\n")
    assert expected in message
    assert "line " in message


def test_missing_functions_and_wrong_arity():
    assert "must define a top-level function 'decode'" in violation("def encode(y, u, v, fps, quality): pass\n")
    assert "'encode' takes 2 positional" in violation("def encode(y, u): pass\ndef decode(b): pass\n")


def test_syntax_errors_name_the_line():
    assert "syntax error at line 2" in violation("x = 1\ndef f(:\n")


def test_every_problem_is_listed_at_once():
    message = violation("import os\nimport sys\n")
    assert "'os'" in message and "'sys'" in message and "encode" in message


@pytest.mark.parametrize(
    "line, expected",
    [
        ("import torch\nx = torch.from_file('/etc/passwd', size=4)", "'.from_file'"),
        ("import torch\nx = torch.UntypedStorage.from_file('/etc/passwd')", "'.from_file'"),
        ("import torch\nx = torch.load('/x.pt')", "'.load'"),
        ("import numpy as np\nx = np.fromfile('/etc/passwd')", "'.fromfile'"),
        ("import numpy as np\nx = np.memmap('/etc/passwd')", "'.memmap'"),
        ("import cv2\nx = cv2.VideoCapture('/clip.mp4')", "'.VideoCapture'"),
        ("import cv2\nx = cv2.imreadanimation('/x.webp')", "'.imreadanimation'"),
        ("import cv2\nx = cv2.dnn.readNetFromONNX('/x.onnx')", "'.readNetFromONNX'"),
        ("import torch\nx = torch.__file__", "'.__file__'"),
    ],
)
def test_native_file_readers_are_named(line, expected):
    assert expected in violation(line + "\ndef encode(y, u, v, fps, quality): pass\ndef decode(b): pass\n")
