"""Draw the two synthetic diagrams of docs/metrics.md (remnant_area, truncated_misuse_rate); nothing from
the shared data. Run from the repository root: `python scripts/draw_metric_diagrams.py`."""

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from lamuse import metrics

H, W = 220, 200
font = ImageFont.load_default(size=13)


def canvas() -> np.ndarray:
    return np.full((H, W, 3), (196, 208, 220), np.uint8)  # a pale sky


# --- remnant_area -------------------------------------------------------------
painting = canvas()
body_drawing = np.zeros((H, W), np.uint8)
cv2.ellipse(body_drawing, (100, 140), (28, 62), 0, 0, 360, 1, -1)
cv2.circle(body_drawing, (100, 72), 16, 1, -1)
body = body_drawing.astype(bool)
hat_drawing = np.zeros((H, W), np.uint8)
cv2.rectangle(hat_drawing, (86, 30), (114, 56), 1, -1)
cv2.rectangle(hat_drawing, (78, 52), (122, 58), 1, -1)
hat = hat_drawing.astype(bool) & ~body
painting[body] = (170, 60, 50)
painting[hat] = (30, 30, 35)
salient = body | hat


def output(clear_hat: bool) -> tuple[np.ndarray, np.ndarray]:
    out = painting.copy()
    grown = cv2.dilate(body.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    if clear_hat:
        grown |= cv2.dilate(hat.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    out[grown] = (196, 208, 220)
    drawing = np.zeros((H, W), np.uint8)
    cv2.ellipse(drawing, (104, 150), (24, 56), 0, 0, 360, 1, -1)
    cv2.circle(drawing, (104, 88), 14, 1, -1)
    new = drawing.astype(bool)
    out[new] = (60, 90, 160)
    return out, new


panels = []
for clear_hat in (False, True):
    out, new = output(clear_hat)
    value = metrics.remnant_area(out, painting, body, new, salient, body)
    zone = metrics.surroundings(body) & ~new
    remnant = (
        zone
        & metrics.old_parts(body, salient, metrics.surroundings(body), body)
        & (
            np.linalg.norm(metrics.lab_image(out) - metrics.lab_image(painting), axis=2)
            < metrics.UNCHANGED_DELTA_E
        )
    )
    view = out.copy()
    view[zone & ~remnant] = (view[zone & ~remnant] * 0.6 + np.array([255, 255, 255]) * 0.4).astype(np.uint8)
    view[remnant] = (255, 0, 200)
    panels.append((out, view, value))
sheet = Image.new("RGB", (W * 5 + 40, H + 40), "white")
d = ImageDraw.Draw(sheet)
images = [
    (painting, "painting: element = red mask;\\nits hat is not in the mask"),
    (panels[0][0], "tight: hat survives"),
    (panels[0][1], f"remnant_area = {panels[0][2]:.2f}\\npale: surroundings; pink: remnant"),
    (panels[1][0], "grow: hat cleared"),
    (panels[1][1], f"remnant_area = {panels[1][2]:.2f}"),
]
for k, (pixels, label) in enumerate(images):
    sheet.paste(Image.fromarray(pixels), (k * (W + 10), 0))
    d.multiline_text((k * (W + 10) + 4, H + 2), label.replace("\\n", "\n"), fill="black", font=font)
sheet.save("docs/img/remnant_area.png", optimize=True)

# --- truncated_misuse_rate ----------------------------------------------------
diagram = Image.new("RGB", (760, 300), "white")
d = ImageDraw.Draw(diagram)
d.rectangle((10, 10, 290, 270), outline="black", width=3)
d.text((14, 274), "painting (frame)", fill="black", font=font)


def figure(x: int, y: int, s: float, colour: tuple[int, int, int], cut: int | None = None) -> None:
    d.ellipse((x - 12 * s, y, x + 12 * s, y + 24 * s), fill=colour)
    d.rounded_rectangle((x - 20 * s, y + 26 * s, x + 20 * s, y + 110 * s), radius=10, fill=colour)
    if cut is not None:
        d.rectangle((x - 30 * s, cut, x + 30 * s, cut + 200), fill="white")


figure(90, 60, 1.6, (170, 60, 50))  # whole, standing inside the frame
d.text((40, 40), "A: whole element", fill="black", font=font)
figure(230, 150, 1.6, (120, 80, 160), cut=270)  # cut by the frame's bottom edge
d.rectangle((10, 10, 290, 270), outline="black", width=3)
d.text((190, 130), "B: frame-cut", fill="black", font=font)
d.rectangle((400, 10, 750, 200), outline="grey", width=1)
d.text((404, 204), "library (class person)", fill="black", font=font)
figure(470, 40, 1.2, (60, 90, 160))
d.text((430, 20), "whole cut-out", fill="black", font=font)
figure(640, 60, 1.5, (60, 140, 90), cut=140)
d.line((590, 140, 690, 140), fill="black", width=2)
d.text((590, 20), "frame-cut bust", fill="black", font=font)
d.rectangle((400, 10, 750, 200), outline="grey", width=1)
d.text(
    (330, 230),
    "bust -> A : misuse (a whole one existed)   bust -> B : fine   whole -> A : fine",
    fill=(200, 0, 0),
    font=font,
)
d.text((330, 250), "truncated_misuse_rate = misuses / swaps", fill="black", font=font)
diagram.save("docs/img/truncated_misuse_rate.png", optimize=True)
