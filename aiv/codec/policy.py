"""Static policy for candidate modules: checked before any candidate code runs.

The sandbox is what contains a hostile codec; this check is the cheap first gate that tells a
model, in words it can act on, what its module does that the contract does not allow.
"""

from __future__ import annotations

import ast

ALLOWED_IMPORTS = frozenset(
    {
        "numpy",
        "torch",
        "cv2",
        "math",
        "struct",
        "zlib",
        "lzma",
        "bz2",
        "heapq",
        "itertools",
        "functools",
        "collections",
        "dataclasses",
        "typing",
        "__future__",
    }
)
FORBIDDEN_NAMES = frozenset(
    {
        "open",
        "exec",
        "eval",
        "compile",
        "__import__",
        "globals",
        "locals",
        "vars",
        "breakpoint",
        "input",
        "memoryview",
        "getattr",
        "setattr",
        "delattr",
        "__builtins__",
        "__loader__",
        "__spec__",
    }
)
FORBIDDEN_ATTRIBUTES = frozenset(
    {
        "__globals__",
        "__code__",
        "__closure__",
        "__subclasses__",
        "__bases__",
        "__mro__",
        "__dict__",
        "__getattribute__",
        "__reduce__",
        "__reduce_ex__",
        "__builtins__",
        "__import__",
        "__loader__",
        "f_globals",
        "f_locals",
        "f_back",
        "gi_frame",
        "cr_frame",
        "tofile",
        "fromfile",
        "load",
        "save",
        "savez",
        "savez_compressed",
        "memmap",
        "open_memmap",
        "loadtxt",
        "savetxt",
        "genfromtxt",
        "fromregex",
        "DataSource",
        "ctypeslib",
        "ctypes",
        "system",
        "popen",
        "imread",
        "imreadmulti",
        "imwrite",
        "VideoCapture",
        "VideoWriter",
        "FileStorage",
        "hub",
        "cpp_extension",
        "load_inline",
        "load_library",
        # native file readers that raise no audit event (the sandbox's view leaves them nothing to read anyway)
        "from_file",
        "imreadanimation",
        "imcount",
        "haveImageReader",
        "readOpticalFlow",
        "CascadeClassifier",
        "readNet",
        "readNetFromCaffe",
        "readNetFromDarknet",
        "readNetFromModelOptimizer",
        "readNetFromONNX",
        "readNetFromTensorflow",
        "readNetFromTFLite",
        "readNetFromTorch",
        "readTensorFromONNX",
        "PackageImporter",
        # where a module lives: the way to package files next to it
        "__file__",
        "__path__",
        "__cached__",
    }
)
REQUIRED_FUNCTIONS = {"encode": 5, "decode": 1}
MAX_SOURCE_BYTES = 256 * 1024


class PolicyViolation(Exception):
    """The module breaks the static policy; the message lists every problem found, by line."""


def check_policy(source: str) -> None:
    """Raise PolicyViolation naming each problem in `source`, or return when it passes."""
    if len(source.encode()) > MAX_SOURCE_BYTES:
        raise PolicyViolation(f"the module is {len(source.encode())} bytes; the limit is {MAX_SOURCE_BYTES}")
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise PolicyViolation(f"syntax error at line {exc.lineno}: {exc.msg}") from exc
    problems = _import_problems(tree) + _name_problems(tree) + _signature_problems(tree)
    if problems:
        raise PolicyViolation("; ".join(problems))


def _import_problems(tree: ast.Module) -> list[str]:
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                problems.append(f"line {node.lineno}: relative import is not allowed")
                continue
            modules = [node.module or ""]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            if parts[0] not in ALLOWED_IMPORTS:
                problems.append(
                    f"line {node.lineno}: import of '{module}' is not allowed "
                    f"(allowed: {', '.join(sorted(ALLOWED_IMPORTS - {'__future__'}))})"
                )
            elif FORBIDDEN_ATTRIBUTES & set(parts[1:]):
                problems.append(
                    f"line {node.lineno}: import of '{module}' is not allowed "
                    f"(it reaches the forbidden attribute '{min(FORBIDDEN_ATTRIBUTES & set(parts))}')"
                )
    return problems


def _name_problems(tree: ast.Module) -> list[str]:
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            problems.append(f"line {node.lineno}: use of '{node.id}' is not allowed")
        elif isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
            problems.append(f"line {node.lineno}: attribute '.{node.attr}' is not allowed")
    return problems


def _signature_problems(tree: ast.Module) -> list[str]:
    defined = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    problems = []
    for name, arity in REQUIRED_FUNCTIONS.items():
        node = defined.get(name)
        if node is None:
            problems.append(f"the module must define a top-level function '{name}'")
            continue
        positional = len(node.args.posonlyargs) + len(node.args.args)
        if positional != arity and node.args.vararg is None:
            problems.append(f"'{name}' takes {positional} positional arguments; the contract passes {arity}")
    return problems
