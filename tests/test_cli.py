"""The `lamuse` CLI end to end (reinterpret, weights list) on real paintings, real cut-outs and the shipped
style weights: the files it writes, the flags it wires, how it fails."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lamuse.cli import main
from lamuse.segment.annotations import AnnotationSegmenter

from .conftest import PAINTING_ANNOTATIONS, PAINTINGS, SHARED_DATA

SEURAT = PAINTINGS / "seurat_grande_jatte.jpg"


def _reinterpret(out: Path, library: Path, painting: Path = SEURAT, *extra: str) -> int:
    argv = ["reinterpret", str(painting), "--library", str(library), "--out", str(out), *extra]
    return main(argv)


@pytest.fixture(scope="module")
def seurat_run(tmp_path_factory: pytest.TempPathFactory, annotated_library: Path) -> Path:
    out = tmp_path_factory.mktemp("seurat")
    extra = ("--annotations", str(PAINTING_ANNOTATIONS), "--variations", "3", "--seed", "7", "--size", "512")
    assert _reinterpret(out, annotated_library, SEURAT, *extra) == 0
    return out


@pytest.mark.slow
def test_three_variations_with_the_output_contract(seurat_run: Path) -> None:
    """Three PNG + JSON pairs, with every contract key and the painting's aspect ratio."""
    for k in range(3):
        image = Image.open(seurat_run / f"seurat_grande_jatte-{k}.png")
        assert abs(image.width / image.height - 2000 / 1331) < 0.02 * 2000 / 1331
        trace = json.loads((seurat_run / f"seurat_grande_jatte-{k}.json").read_text())
        for key in ("painting", "segmenter", "seed", "swaps", "background", "timings", "explanation"):
            assert key in trace
        assert trace["segmenter"] == "annotations" and trace["seed"] == 7 and trace["stylized"]
        for swap in trace["swaps"]:
            for key in ("class", "box", "cutout_id", "source", "credit", "shape_distance", "mask_iou"):
                assert key in swap
        assert set(trace["timings"]) >= {"segment", "substitute", "stylize"}
        assert all(len(m["sha256"]) == 64 for m in trace["models"].values())
        assert trace["models"]["segmenter:annotations_0"]["file"] == "paintings.json"
        assert {"stylizer:style_predictor", "stylizer:style_transformer"} <= set(trace["models"])
        assert "is now" in trace["explanation"]


def test_same_seed_gives_identical_pixels(seurat_run: Path, annotated_library: Path, tmp_path: Path) -> None:
    """Running the same command again gives byte-identical PNGs; another seed does not."""
    extra = ("--annotations", str(PAINTING_ANNOTATIONS), "--variations", "1", "--seed", "7", "--size", "512")
    assert _reinterpret(tmp_path / "again", annotated_library, SEURAT, *extra) == 0
    name = "seurat_grande_jatte-0.png"
    assert (tmp_path / "again" / name).read_bytes() == (seurat_run / name).read_bytes()
    other = (*extra[:-3], "8", "--size", "512")
    assert _reinterpret(tmp_path / "other", annotated_library, SEURAT, *other) == 0
    assert (tmp_path / "other" / name).read_bytes() != (seurat_run / name).read_bytes()


def test_unknown_painting_falls_back_to_salient(
    annotated_library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A painting with no masks and no Mask R-CNN weights is still reinterpreted, and the JSON says how."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    painting = PAINTINGS / "klimt_the_kiss.jpg"
    monkeypatch.setenv("LAMUSE_OFFLINE", "1")
    segmenter = AnnotationSegmenter([PAINTING_ANNOTATIONS])
    assert not segmenter.annotated(Image.open(painting), name=painting.name)
    extra = ("--annotations", str(PAINTING_ANNOTATIONS), "--size", "384", "--stylizer", "none")
    assert _reinterpret(tmp_path, annotated_library, painting, *extra) == 0
    trace = json.loads((tmp_path / "klimt_the_kiss-0.json").read_text())
    assert trace["segmenter"] == "salient"
    assert trace["models"]["segmenter:u2netp"]["file"] == "u2netp.onnx"
    assert trace["swaps"] and not trace["swaps"][0]["same_class"]
    assert (
        "chosen by its shape" in trace["explanation"]
        and "no object in the library" not in trace["explanation"]
    )


@pytest.mark.parametrize("mode", ["swap", "none"])
def test_background_modes(mode: str, annotated_library: Path, tmp_path: Path) -> None:
    """`swap` puts the elements in front of a background photo, `none` on a plain canvas."""
    extra = ["--annotations", str(PAINTING_ANNOTATIONS), "--size", "384", "--stylizer", "none"]
    extra += ["--background", mode, "--backgrounds", str(SHARED_DATA / "backgrounds")]
    assert _reinterpret(tmp_path, annotated_library, SEURAT, *extra) == 0
    trace = json.loads((tmp_path / "seurat_grande_jatte-0.json").read_text())
    assert trace["background"]["mode"] == mode
    if mode == "swap":
        assert (SHARED_DATA / "backgrounds" / trace["background"]["source"]).is_file()
    image = np.asarray(Image.open(tmp_path / "seurat_grande_jatte-0.png"))
    original = np.asarray(Image.open(SEURAT).resize((image.shape[1], image.shape[0])))
    assert np.abs(image.astype(int) - original).mean() > 20  # the setting really changed


def test_greyscale_watermark_french_and_palette(annotated_library: Path, tmp_path: Path) -> None:
    """Greyscale output is grey, the watermark marks a corner, the explanation is French on request."""
    extra = ["--annotations", str(PAINTING_ANNOTATIONS), "--size", "384", "--stylizer", "none"]
    extra += ["--greyscale", "--watermark", "La Muse", "--language", "fr"]
    assert _reinterpret(tmp_path, annotated_library, SEURAT, *extra) == 0
    image = np.asarray(Image.open(tmp_path / "seurat_grande_jatte-0.png")).astype(int)
    assert np.abs(image[..., 0] - image[..., 1]).max() <= 1
    trace = json.loads((tmp_path / "seurat_grande_jatte-0.json").read_text())
    assert "devient" in trace["explanation"]
    assert len(trace["palette"]) == 5 and all(c["name"].isalpha() for c in trace["palette"])


@pytest.mark.parametrize(
    ("painting", "message"),
    [("does-not-exist.jpg", "does not exist"), ("not-an-image.jpg", "not an image")],
)
def test_bad_input_exits_2_with_one_error_line(
    painting: str, message: str, annotated_library: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad input: exit status 2 and a single `error:` line on stderr, no traceback."""
    (tmp_path / "not-an-image.jpg").write_text("hello")
    assert _reinterpret(tmp_path / "out", annotated_library, tmp_path / painting) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0]


def test_weights_list_names_every_shipped_file(capsys: pytest.CaptureFixture[str]) -> None:
    """`lamuse weights list` finds the shipped files and says Mask R-CNN is to be fetched."""
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("u2netp", "magenta-arbitrary-predict", "realesr-animevideov3-x4-bin"):
        assert name in out
    assert "maskrcnn_resnet50_fpn_v2_coco" in out  # the registry's name for torchvision's v2 weights


def test_upscale_other_style_and_keep_colors_through_the_cli(annotated_library: Path, tmp_path: Path) -> None:
    """`--upscale 2` doubles the output with the learned upscaler; `--style` and `--keep-colors` are
    recorded, and the upscaler's weights appear in the trace with their sha256."""
    extra = ["--annotations", str(PAINTING_ANNOTATIONS), "--size", "256", "--upscale", "2"]
    extra += ["--style", str(PAINTINGS / "hokusai_great_wave.jpg"), "--keep-colors"]
    extra += ["--style-strength", "0.7"]
    assert _reinterpret(tmp_path, annotated_library, SEURAT, *extra) == 0
    image = Image.open(tmp_path / "seurat_grande_jatte-0.png")
    assert image.size == (512, 340)  # 256 x 170 working size, doubled
    trace = json.loads((tmp_path / "seurat_grande_jatte-0.json").read_text())
    assert trace["style_source"] == "hokusai_great_wave.jpg"
    assert trace["options"]["keep_colors"] and trace["options"]["style_strength"] == 0.7
    assert "upscale" in trace["timings"]
    assert any(key.startswith("upscaler:") for key in trace["models"])


@pytest.mark.slow
def test_maskrcnn_weights_from_a_local_path_join_the_chain(annotated_library: Path, tmp_path: Path) -> None:
    """`--maskrcnn-weights` loads a local state dict (here a seeded random one) and the chain uses it
    for a painting without curated masks; the trace names the weights file."""
    import torch
    from torchvision.models.detection import maskrcnn_resnet50_fpn

    torch.manual_seed(0)
    checkpoint = tmp_path / "maskrcnn-random.pth"
    torch.save(
        maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91).state_dict(), checkpoint
    )
    painting = PAINTINGS / "klimt_the_kiss.jpg"
    extra = ["--maskrcnn-weights", str(checkpoint), "--maskrcnn-version", "v1", "--score-threshold", "0"]
    extra += ["--size", "256", "--stylizer", "none"]
    assert _reinterpret(tmp_path / "out", annotated_library, painting, *extra) == 0
    trace = json.loads((tmp_path / "out" / "klimt_the_kiss-0.json").read_text())
    assert trace["segmenter"] == "maskrcnn" and trace["instances_found"] > 0
    assert trace["models"]["segmenter:maskrcnn_v1"]["file"] == "maskrcnn-random.pth"


def test_a_painting_without_masks_fetches_the_detector_once_with_a_progress_bar(
    annotated_library: Path,
    checkpoint: Path,
    http_root: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """`lamuse reinterpret` on a painting with no masks and no cached weights, with a local mirror: the
    first run downloads torchvision's file name with a progress bar into the torch cache, the second
    loads it from there with the mirror gone, and `--offline` with an empty cache swaps salient shapes and
    says why. The registry entry carries the seeded file's sha256 (torchvision's real file is not here)."""
    import lamuse.weights as weights

    monkeypatch.delenv("LAMUSE_OFFLINE")
    root, base = http_root
    real = weights.maskrcnn_entry("v1")
    (root / real.filename).write_bytes(checkpoint.read_bytes())
    seeded = dataclasses.replace(real, sha256=weights.sha256_file(checkpoint), sha256_prefix=None)
    monkeypatch.setitem(weights.WEIGHTS, real.name, seeded)  # type: ignore[index]
    monkeypatch.setenv("LAMUSE_WEIGHTS_MIRROR", base)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cached = weights.torch_hub_checkpoints() / real.filename
    painting = PAINTINGS / "klimt_the_kiss.jpg"
    extra = ("--size", "256", "--stylizer", "none", "--maskrcnn-version", "v1")

    capfd.readouterr()
    assert _reinterpret(tmp_path / "first", annotated_library, painting, *extra) == 0
    assert "Mask R-CNN weights" in capfd.readouterr().err and cached.is_file()
    (root / real.filename).unlink()
    assert _reinterpret(tmp_path / "again", annotated_library, painting, *extra) == 0
    assert "Mask R-CNN weights" not in capfd.readouterr().err
    trace = json.loads((tmp_path / "again" / "klimt_the_kiss-0.json").read_text())
    assert trace["detector_available"] is True

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    assert _reinterpret(tmp_path / "offline", annotated_library, painting, *extra, "--offline") == 0
    trace = json.loads((tmp_path / "offline" / "klimt_the_kiss-0.json").read_text())
    assert trace["segmenter"] == "salient" and trace["detector_available"] is False
    assert "No object detector was available" in trace["explanation"]
