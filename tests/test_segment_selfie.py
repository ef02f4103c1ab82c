"""The torch port of MediaPipe's selfie segmentation: same answer as MediaPipe, crops framed on heads."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from lamuse.io import fit_long_side, load_image
from lamuse.segment.annotations import AnnotationSegmenter
from lamuse.segment.selfie import PersonSegmenter
from lamuse.shapes import head_window
from lamuse.types import Instance
from tests.conftest import PAINTING_ANNOTATIONS, PAINTINGS

REFERENCE = Path(__file__).parent / "data" / "selfie_milkmaid_head_mediapipe.npy"
"""MediaPipe 0.10.21's own answer (``SelfieSegmentation(model_selection=0)``, numpy 1.26 in a separate
environment) on the 256 px crop framed on the Milkmaid's head below, averaged down to 64×64."""


@pytest.fixture(scope="module")
def person() -> PersonSegmenter:
    return PersonSegmenter(device="cpu")


def _figure(mask: np.ndarray) -> Instance:
    ys, xs = np.nonzero(mask)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return Instance(class_id=1, class_name="person", score=1.0, mask=mask, box=box)


def test_the_port_gives_mediapipes_answer_on_a_painted_head(person: PersonSegmenter) -> None:
    """The shipped weights, run op by op in torch, match MediaPipe's TFLite run (measured on 15 figures
    of 6 paintings: max difference 0.0008); her cap is the person's, the wall beside her is not."""
    working = fit_long_side(load_image(PAINTINGS / "vermeer_milkmaid.jpg").image, 768).convert("RGB")
    milkmaid = AnnotationSegmenter([PAINTING_ANNOTATIONS]).segment(working, name="vermeer_milkmaid.jpg")[0]
    window = head_window(milkmaid)
    assert window is not None
    x0, y0, x1, y1 = window
    crop = np.asarray(working)[y0:y1, x0:x1]
    square = cv2.resize(crop, (256, 256), interpolation=cv2.INTER_AREA)
    ours = person.person_map(square)
    reference = np.load(REFERENCE).astype(np.float32)
    assert np.abs(cv2.resize(ours, (64, 64), interpolation=cv2.INTER_AREA) - reference).max() < 0.01
    assert ours[72:92, 112:150].mean() > 0.9  # the top of her cap
    assert ours[10:60, 200:250].max() < 0.1 and ours[10:60, 0:60].max() < 0.1  # the wall round her head


def test_heads_are_framed_on_standing_figures_only(person: PersonSegmenter) -> None:
    """A figure lying down, or one whose head the image's top cuts, gets no crop; the crop of a standing
    one is centred on its head (31 px wide: the ellipse's widest row), two head widths wide."""
    standing = np.zeros((200, 200), bool)
    cv2.ellipse(standing.view(np.uint8), (100, 40), (15, 20), 0, 0, 360, 1, -1)
    standing[55:190, 80:120] = True
    lying = np.zeros((200, 200), bool)
    lying[120:160, 10:190] = True
    cut = np.zeros((200, 200), bool)
    cut[0:150, 80:120] = True
    figures = [_figure(standing), _figure(lying), _figure(cut)]
    assert head_window(figures[1]) is None and head_window(figures[2]) is None
    x0, y0, x1, y1 = head_window(figures[0]) or (0, 0, 0, 0)
    assert (x1 - x0, y1 - y0) == (62, 62) and (x0 + x1) // 2 == 100 and y0 < 20 < y1
    image = np.asarray(Image.new("RGB", (200, 200), (120, 110, 100)))
    heads = person.heads(image, figures)
    assert list(heads) == [0] and heads[0].saliency.shape == (62, 62)
