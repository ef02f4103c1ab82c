"""The package's public surface: what `import lamuse` costs and exports, and what a wheel ships."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import lamuse

ROOT = Path(__file__).resolve().parents[1]


def test_import_lamuse_loads_neither_torch_nor_opencv() -> None:
    """`import lamuse` in a fresh interpreter leaves torch and cv2 unimported; the lazy names load them."""
    code = (
        "import sys, lamuse; print('torch' in sys.modules, 'cv2' in sys.modules); "
        "lamuse.Pipeline; print('cv2' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.split() == ["False", "False", "True"]


def test_public_names_resolve() -> None:
    """Every name in `__all__` exists, the lazy ones included, and a typo is an AttributeError."""
    from lamuse.pipeline import Pipeline, load_pipeline

    for name in lamuse.__all__:
        assert getattr(lamuse, name) is not None, name
    assert lamuse.Pipeline is Pipeline and lamuse.load_pipeline is load_pipeline
    with pytest.raises(AttributeError, match="Pipelin"):
        lamuse.Pipelin  # noqa: B018


def test_wheel_ships_py_typed_the_demo_classes_and_the_one_version(tmp_path: Path) -> None:
    """A wheel built from pyproject.toml holds py.typed and the demo class sidecar, and its version is
    `lamuse.__version__` (the one version source)."""
    source = tmp_path / "src"
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copy(ROOT / "README.md", source)
    shutil.copytree(ROOT / "lamuse", source / "lamuse", ignore=shutil.ignore_patterns("__pycache__"))
    build = "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))"
    result = subprocess.run(
        [sys.executable, "-c", build, str(tmp_path / "dist")],
        capture_output=True,
        text=True,
        check=True,
        cwd=source,
    )
    wheel = tmp_path / "dist" / result.stdout.strip().splitlines()[-1]
    assert wheel.name.startswith(f"lamuse-{lamuse.__version__}-")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"lamuse/py.typed", "lamuse/data/demo_photo_classes.json", "lamuse/__init__.py"} <= names
