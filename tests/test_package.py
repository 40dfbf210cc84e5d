"""The package's public surface: one import line, and a light one."""

from __future__ import annotations

import subprocess
import sys

import pytest

import coassist


@pytest.mark.parametrize("name", sorted(set(coassist.__all__) - {"__version__"}))
def test_every_public_name_resolves_to_its_layer(name: str) -> None:
    assert callable(getattr(coassist, name))


def test_public_names_are_the_layers_own_objects() -> None:
    from coassist.notebook.widgets import ChatWidget
    from coassist.plan import allocate

    assert coassist.allocate is allocate and coassist.ChatWidget is ChatWidget
    with pytest.raises(AttributeError, match="no attribute 'allocat'"):
        coassist.allocat  # noqa: B018


def test_importing_coassist_does_not_import_torch() -> None:
    code = "import sys, coassist; coassist._jupyter_server_extension_points(); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
