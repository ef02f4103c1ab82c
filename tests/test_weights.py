"""The weights registry: one table of every model file, each checksummed and licensed, shown by the CLI."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from lamuse.cli import main
from lamuse.weights import REGISTRY, SHA256_PREFIX_LENGTH, WEIGHTS, download_url, maskrcnn_entry, resolve


def test_every_entry_has_a_checksum_a_licence_a_size_and_a_builder() -> None:
    for entry in REGISTRY:
        if entry.sha256 is not None:
            assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256), entry.name
        else:  # only torchvision's files, whose publisher gives the prefix in the file name
            assert entry.sha256_prefix is not None and entry.url is not None, entry.name
            assert re.fullmatch(rf"[0-9a-f]{{{SHA256_PREFIX_LENGTH}}}", entry.sha256_prefix)
            assert f"-{entry.sha256_prefix}." in entry.filename
        assert entry.licence and entry.size is not None and entry.size > 0, entry.name
        assert entry.url is not None or entry.package is not None, entry.name
        module, attr = entry.builder.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), attr)), entry.builder


def test_names_are_unique_and_indexed() -> None:
    names = [entry.name for entry in REGISTRY]
    assert len(names) == len(set(names)) == len(WEIGHTS)
    assert maskrcnn_entry("v2") is WEIGHTS["maskrcnn_resnet50_fpn_v2_coco"]


def test_shipped_files_resolve_offline_with_their_registered_size() -> None:
    for entry in REGISTRY:
        if entry.package is not None:
            path = resolve(entry, allow_download=False)
            assert path.stat().st_size == entry.size, entry.name


def test_mirror_replaces_the_publisher(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = maskrcnn_entry("v1")
    monkeypatch.delenv("LAMUSE_WEIGHTS_MIRROR", raising=False)
    assert download_url(entry) == entry.url
    monkeypatch.setenv("LAMUSE_WEIGHTS_MIRROR", "http://127.0.0.1:9/models/")
    assert download_url(entry) == "http://127.0.0.1:9/models/" + entry.filename
    assert download_url(WEIGHTS["u2netp"]) is None  # ships in a package only


def test_weights_list_shows_the_whole_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["weights", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(REGISTRY)
    for entry, line in zip(REGISTRY, lines, strict=True):
        assert line.split()[0] == entry.name and entry.licence in line
    assert any("sha256 prefix 73cbd019 only" in line for line in lines)


def test_weights_fetch_offline_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert main(["weights", "fetch", "v1"]) == 2  # the test session runs with LAMUSE_OFFLINE=1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: weights maskrcnn_resnet50_fpn_v1_coco")
    # Without a version it fetches v2 (the issue's `lamuse weights fetch`), not an argparse refusal.
    assert main(["weights", "fetch"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: weights maskrcnn_resnet50_fpn_v2_coco")
