"""Every Examples section in coassist's docstrings runs, so the fastest way to learn a function
(its example) is never out of date."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import coassist

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(coassist.__path__, "coassist.")
    if not info.name.endswith("__main__") and ".labextension" not in info.name
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    if result.attempted == 0:
        pytest.skip("no examples in this module")
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
