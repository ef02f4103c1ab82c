"""``python -m bot --check``: the demo configuration passes; each operator mistake is one line and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import PAINTING_ANNOTATIONS, PAINTINGS, SHARED_DATA


@pytest.fixture
def demo_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, annotated_library: Path) -> Path:
    """The demo settings (as .env.example has them), with a library already built."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    for key, value in {
        "LAMUSE_CORPUS": PAINTINGS,
        "LAMUSE_ANNOTATIONS": PAINTING_ANNOTATIONS,
        "LAMUSE_LIBRARY": annotated_library,
        "LAMUSE_PHOTOS": SHARED_DATA / "photos",
        "LAMUSE_BACKGROUNDS": SHARED_DATA / "backgrounds",
        "LAMUSE_DB": tmp_path / "muse.db",
        "LAMUSE_DATA_DIR": tmp_path / "files",
        "LAMUSE_DEVICE": "cpu",
        "LAMUSE_LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(key, str(value))
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    return tmp_path


def check(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    import bot.__main__ as entry

    status = entry.main(["--check"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return status, out + err


@pytest.mark.slow
def test_the_demo_configuration_passes(
    demo_env: Path, capsys: pytest.CaptureFixture[str], root_logging: None
) -> None:
    """Exit 0, a summary of what was checked and loaded, and the offline detector as a warning."""
    status, text = check(capsys)
    assert status == 0, text
    for setting in ("LAMUSE_CORPUS", "LAMUSE_ANNOTATIONS", "LAMUSE_LIBRARY", "LAMUSE_DB", "LAMUSE_DATA_DIR"):
        assert f"ok: {setting}" in text
    assert "ok: models: library:" in text and "ok: models: segmenter annotations" in text
    assert "stored files" in text and "GB free" in text
    assert "warning: models: no Mask R-CNN weights" in text


def _broken_photos(tmp_path: Path) -> dict[str, str]:
    photos = tmp_path / "unlabelled"
    photos.mkdir()
    bears = SHARED_DATA / "photos" / "bears_walking_coco20247.jpg"
    (photos / "holiday.jpg").write_bytes(bears.read_bytes())  # no class: no annotations, sidecar or folder
    return {"LAMUSE_LIBRARY": str(tmp_path / "new-library"), "LAMUSE_PHOTOS": str(photos)}


@pytest.mark.parametrize(
    ("mistake", "named"),
    [
        ("annotations", "LAMUSE_ANNOTATIONS"),
        ("no_photos", "LAMUSE_PHOTOS"),
        ("no_library", "LAMUSE_LIBRARY"),
        ("unlabelled_photos", "models"),
        ("cuda", "LAMUSE_DEVICE"),
        ("db_path", "LAMUSE_DB"),
        ("corrupt_db", "LAMUSE_DB"),
        ("log_level", "LAMUSE_LOG_LEVEL"),
        ("backgrounds", "LAMUSE_BACKGROUNDS"),
    ],
)
def test_each_operator_mistake_is_one_line_and_exit_2(
    mistake: str,
    named: str,
    demo_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    root_logging: None,
) -> None:
    """The mistake is named; nothing else fails; no traceback."""
    tmp = demo_env
    changes: dict[str, str] = {
        "annotations": {"LAMUSE_ANNOTATIONS": str(tmp / "missing.json")},
        "no_photos": {"LAMUSE_LIBRARY": str(tmp / "new-library"), "LAMUSE_PHOTOS": str(tmp / "nowhere")},
        "no_library": {"LAMUSE_LIBRARY": str(tmp / "new-library")},
        "unlabelled_photos": {},
        "cuda": {"LAMUSE_DEVICE": "cuda"},
        "db_path": {"LAMUSE_DB": str(tmp / "a-file" / "muse.db")},
        "corrupt_db": {},
        "log_level": {"LAMUSE_LOG_LEVEL": "LOUD"},
        "backgrounds": {"LAMUSE_BACKGROUNDS": str(tmp / "no-backgrounds")},
    }[mistake]
    if mistake == "no_library":
        monkeypatch.delenv("LAMUSE_PHOTOS")
    if mistake == "unlabelled_photos":
        changes = _broken_photos(tmp)
    if mistake == "db_path":
        (tmp / "a-file").write_text("not a folder")
    if mistake == "corrupt_db":
        (tmp / "muse.db").write_bytes(b"SQLite format 3\x00" + b"\xff" * 8000)
    for key, value in changes.items():
        monkeypatch.setenv(key, value)
    status, text = check(capsys)
    assert status == 2, text
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, text
    assert named in errors[0]
