"""Upscalers: torch SRVGG port vs ncnn on the shipped files, tiling, sizes, bf16 drift, factory."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lamuse.errors import ChecksumMismatch
from lamuse.upscale import create_upscaler
from lamuse.upscale.base import LanczosUpscaler, tiled
from lamuse.upscale.ncnn_backend import RealEsrganNcnnUpscaler
from lamuse.upscale.srvgg import srvgg_from_ncnn
from lamuse.upscale.torch_backend import RealEsrganTorchUpscaler
from lamuse.upscale.weights import BINS, PARAMS
from lamuse.weights import WeightsEntry, resolve, sha256_file

from .conftest import PAINTINGS

log = logging.getLogger(__name__)

PAINTING = PAINTINGS / "seurat_grande_jatte.jpg"

pytestmark = pytest.mark.skipif(not PAINTING.is_file(), reason="shared sample images not present")

# Measured here (2026-11) on a 128x128 crop of the Seurat: torch fp32 vs ncnn max abs diff 1.2e-6,
# mean 1.1e-7 (x2 and x4, outputs in [0, 1]). bf16 autocast vs fp32 on the same crop (x2): max 0.0067,
# mean 0.00077 (on a 512px image after uint8 rounding: max 3/255, mean 0.14/255).
FP32_MAX_DIFF = 1e-4
BF16_MAX_DIFF = 0.03
BF16_MEAN_DIFF = 0.003


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    image = Image.open(PAINTING).convert("RGB").crop((600, 400, 728, 528))
    return np.asarray(image, dtype=np.float32) / 255.0


@pytest.fixture(scope="module")
def torch_fp32() -> RealEsrganTorchUpscaler:
    return RealEsrganTorchUpscaler(device="cpu", bf16=False)


@pytest.fixture(scope="module")
def ncnn_upscaler() -> RealEsrganNcnnUpscaler:
    return RealEsrganNcnnUpscaler()


@pytest.mark.parametrize("entry", [*PARAMS.values(), *BINS.values()], ids=lambda e: e.name)
def test_shipped_files_match_their_sha256(entry: WeightsEntry, tmp_path: Path) -> None:
    """The bundled ncnn files hash to the pinned sha256, and a truncated cached copy is refused."""
    path = resolve(entry, cache_dir=tmp_path, allow_download=False)
    assert sha256_file(path) == entry.sha256
    (tmp_path / entry.filename).write_bytes(path.read_bytes()[:-4])
    with pytest.raises(ChecksumMismatch):
        resolve(entry, cache_dir=tmp_path, allow_download=False)


@pytest.mark.parametrize("scale", [2, 4])
def test_torch_port_matches_ncnn(
    torch_fp32: RealEsrganTorchUpscaler,
    ncnn_upscaler: RealEsrganNcnnUpscaler,
    crop: np.ndarray,
    scale: int,
    record_property: Callable[[str, object], None],
) -> None:
    """The fp32 port computes what ncnn computes on the same files (x2 includes the graph's bicubic 0.5)."""
    expected = ncnn_upscaler.run_tile(crop, scale)
    actual = torch_fp32.run_tile(crop, scale)
    assert actual.shape == expected.shape == (128 * scale, 128 * scale, 3)
    diff = np.abs(actual - expected)
    record_property(f"x{scale}_max_abs_diff", float(diff.max()))
    log.info("x%d torch vs ncnn: max abs diff %.2e, mean %.2e", scale, diff.max(), diff.mean())
    assert diff.max() < FP32_MAX_DIFF


def test_bf16_autocast_stays_close_to_fp32(
    torch_fp32: RealEsrganTorchUpscaler, crop: np.ndarray, record_property: Callable[[str, object], None]
) -> None:
    """bf16 autocast (the CPU default) drifts by at most a few grey levels."""
    bf16 = RealEsrganTorchUpscaler(device="cpu", bf16=True)
    diff = np.abs(bf16.run_tile(crop, 2) - torch_fp32.run_tile(crop, 2))
    record_property("bf16_max_abs_diff", float(diff.max()))
    log.info("bf16 vs fp32: max abs diff %.4f, mean %.5f", diff.max(), diff.mean())
    assert diff.max() < BF16_MAX_DIFF
    assert diff.mean() < BF16_MEAN_DIFF


@pytest.mark.slow
@pytest.mark.parametrize("scale", [2, 4])
def test_tiled_equals_untiled(torch_fp32: RealEsrganTorchUpscaler, crop: np.ndarray, scale: int) -> None:
    """Overlapping tiles with the receptive-field margin stitch into the untiled picture."""
    pixels = crop[:100, :90]
    whole = tiled(lambda t: torch_fp32.run_tile(t, scale), pixels, scale, tile=512, overlap=20)
    pieces = tiled(lambda t: torch_fp32.run_tile(t, scale), pixels, scale, tile=32, overlap=20)
    assert np.abs(whole.astype(int) - pieces.astype(int)).max() <= 1


@pytest.mark.parametrize("name", ["realesr-animevideov3-torch", "realesr-animevideov3-ncnn", "lanczos"])
@pytest.mark.parametrize("scale", [2, 4])
def test_odd_sizes_come_back_exactly_scaled(name: str, scale: int) -> None:
    """A 33x51 image comes back exactly scale times larger, in RGB, from every backend."""
    image = Image.open(PAINTING).convert("RGB").resize((33, 51))
    out = create_upscaler(name, device="cpu").upscale(image, scale)
    assert out.size == (33 * scale, 51 * scale)
    assert out.mode == "RGB"


def test_scale_one_returns_the_image_unchanged(torch_fp32: RealEsrganTorchUpscaler) -> None:
    """scale=1 is a no-op, not a model run."""
    image = Image.new("RGB", (20, 10), "red")
    assert torch_fp32.upscale(image, 1) is image


@pytest.mark.parametrize("scale", [0, 3, 8])
def test_unsupported_scales_are_refused(scale: int) -> None:
    """Only 1, 2 and 4 are offered (x3 ships, but the pipeline never asks for it)."""
    with pytest.raises(ValueError, match="scale"):
        LanczosUpscaler().upscale(Image.new("RGB", (8, 8)), scale)


def test_corrupt_weight_tag_is_refused(tmp_path: Path) -> None:
    """An ncnn blob with an unknown storage tag fails loudly instead of loading garbage."""
    data = bytearray(resolve(BINS[4]).read_bytes())
    data[:4] = b"\xff\xff\xff\xff"
    broken = tmp_path / "broken.bin"
    broken.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="tag"):
        srvgg_from_ncnn(resolve(PARAMS[4]), broken)


def test_factory_defaults_to_the_torch_port_and_names_the_valid_ones() -> None:
    """auto is the learned torch port (never a silent Lanczos); a typo lists the choices."""
    upscaler = create_upscaler("auto", device="cpu")
    assert upscaler.name == "realesr-animevideov3-torch"
    assert isinstance(upscaler, RealEsrganTorchUpscaler)
    assert upscaler.model_files["x4_bin"].name == "realesr-animevideov3-x4.bin"
    with pytest.raises(ValueError, match="lanczos"):
        create_upscaler("bicubic")
