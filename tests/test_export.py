"""What `aiv export` writes is usable outside the lab: the module imports with the plain importlib recipe."""

from __future__ import annotations

import importlib.util

import pytest

from aiv.codec.builtin import BUILTIN_CODECS
from aiv.codec.contract import builtin_source


@pytest.mark.parametrize("name", BUILTIN_CODECS)
def test_builtin_codecs_import_with_the_plain_importlib_recipe(name, tmp_path):
    """spec_from_file_location + exec_module, without registering the module in sys.modules first:
    a dataclass with string annotations (`from __future__ import annotations`) fails that way."""
    path = tmp_path / f"exp-{name}.py"
    path.write_text(builtin_source(name).source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.encode) and callable(module.decode)
