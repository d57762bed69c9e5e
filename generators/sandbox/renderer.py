"""The procedural portrait renderer: a :class:`~generators.sandbox.world.Portrait` → an RGB image.

Head and shoulders on a plain background, drawn with PIL at four times the
output size and averaged down (so edges are smooth, as in a photograph). The
skin is the portrait's Monk Skin Tone reference colour times a lighting factor
(no channel above 249, so a colorimetric reading never sees it clipped); the
hair is grey for the age cue 'older', and shows at the temples under a hat; a
small badge on the chest carries the neutral marker; the clothing (and a hat,
for some) shows the occupation. Faces are drawn front-on with shadowed eyes,
brows, nose, mouth and a highlight on forehead, nose and cheekbones, so that a
face detector finds them on every skin tone (about 94% of portraits with
OpenCV's Haar cascade once enlarged to 128 pixels; fewest at Monk 10). Nothing
is drawn that codes gender. Deterministic: the same portrait gives the same
pixels.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from generators.sandbox.world import Portrait

SIZE = 32  # the sandbox's image side, in pixels
_SUPERSAMPLE = 4
HIGHLIGHT = 40
# No skin channel goes above this: a channel at 250 or more reads as clipped (over-exposed) to a
# colorimetric skin-tone measurement, which leaves such pixels out (Monk 1-3 are within 9 of it).
_SKIN_CEILING = 249
SHADOW = 0.5

HATS = frozenset({"construction worker", "chef", "firefighter", "farmer", "police officer"})
MARKER_COLOURS: dict[str, tuple[int, int, int]] = {"amber": (245, 150, 20), "violet": (140, 70, 225)}
_WHITE = (240, 240, 238)
_DARK = (32, 30, 34)

Box = tuple[float, float, float, float]


@functools.cache
def monk_colours() -> dict[int, tuple[int, int, int]]:
    """The 10 Monk Skin Tone reference colours (sRGB), as the skin-tone classifier's data file lists them."""
    text = (resources.files("generators.sandbox") / "monk_skin_tone.json").read_text(encoding="utf-8")
    return {int(entry["mst"]): tuple(entry["srgb"]) for entry in json.loads(text)["monk_skin_tone_scale"]}


def skin_colour(portrait: Portrait) -> tuple[int, int, int]:
    """The flat skin colour of a portrait: its Monk colour under its lighting, never clipped."""
    colour = monk_colours()[portrait.monk_level]
    return _scale(colour, min(portrait.lighting, _SKIN_CEILING / max(colour)))


def render(portrait: Portrait, size: int = SIZE, *, noise_seed: int | None = None) -> Any:
    """The portrait as a ``size``×``size`` RGB PIL image (with faint pixel noise when ``noise_seed`` is given)."""
    import numpy as np
    from PIL import Image, ImageDraw

    canvas = size * _SUPERSAMPLE
    # Background: a soft vertical gradient of the portrait's colour.
    shade = 1.06 - 0.14 * np.arange(canvas) / canvas
    rows = np.clip(np.rint(np.asarray(portrait.background, dtype=np.float64)[None, :] * shade[:, None]), 0, 255)
    image = Image.fromarray(np.ascontiguousarray(np.broadcast_to(rows.astype(np.uint8)[:, None], (canvas, canvas, 3))))
    draw = ImageDraw.Draw(image)
    k = canvas / 32.0  # drawing units: the output is 32 units wide whatever its size

    def box(x0: float, y0: float, x1: float, y1: float) -> list[float]:
        return [x0 * k, y0 * k, x1 * k, y1 * k]

    def poly(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(x * k, y * k) for x, y in points]

    skin = skin_colour(portrait)
    cx, cy = 16.0 + portrait.head_dx, 12.5 + portrait.head_dy
    hx, hy = 5.6, 7.0  # head half-width and half-height

    _draw_torso(draw, box, poly, portrait, skin, cx)
    # Hair: a cap behind the head, fuller with hair_volume.
    v = 0.5 + 0.7 * portrait.hair_volume
    draw.ellipse(box(cx - hx - v, cy - hy - v, cx + hx + v, cy + 1.0), fill=portrait.hair_colour)
    draw.ellipse(box(cx - hx, cy - hy, cx + hx, cy + hy), fill=skin)
    # Hairline: hair over the top of the forehead; under a hat, down the temples too, where the hat
    # leaves it in view (the age cue must show under a hard hat or a cap).
    draw.chord(box(cx - hx, cy - hy, cx + hx, cy - hy + 5.2), 180, 360, fill=portrait.hair_colour)
    for side in (-1, 1) if portrait.occupation in HATS else ():
        x_out, x_in = cx + side * (hx + 0.3), cx + side * (hx - 0.7)
        draw.rectangle(box(min(x_out, x_in), cy - hy + 1.5, max(x_out, x_in), cy - 0.6), fill=portrait.hair_colour)
    _draw_face(draw, box, portrait, skin, cx, cy)
    _draw_hat(draw, box, poly, portrait.occupation, cx, cy, hx, hy)
    # The marker: a badge on the chest (the person's left), over whatever the clothing is.
    draw.rounded_rectangle(box(19.6, 24.6, 23.0, 27.8), radius=0.5 * k, fill=MARKER_COLOURS[portrait.marker])

    image = image.resize((size, size), Image.Resampling.BOX)
    if noise_seed is None:
        return image
    rng = np.random.default_rng(noise_seed)
    pixels = np.asarray(image, dtype=np.float64) + rng.normal(0.0, 1.5, (size, size, 3))
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))


def _draw_face(draw: Any, box: Any, portrait: Portrait, skin: tuple[int, int, int], cx: float, cy: float) -> None:
    # Eyes and brows are drawn darker than the skin around them whatever the skin tone (as shadowed eye
    # sockets are in photographs): a face detector looks for a dark eye band above lighter cheeks.
    shadow = _scale(skin, SHADOW)
    brow = _mix(_scale(skin, 0.45), portrait.hair_colour, 0.25)
    sclera = _mix(shadow, (236, 236, 232), 0.2)
    for side in (-1, 1):
        ex, ey = cx + side * 2.5, cy - 0.4
        draw.ellipse(box(ex - 1.7, ey - 1.2, ex + 1.7, ey + 1.1), fill=shadow)
        draw.ellipse(box(ex - 1.2, ey - 0.65, ex + 1.2, ey + 0.65), fill=sclera)
        draw.ellipse(box(ex - 0.75, ey - 0.75, ex + 0.75, ey + 0.75), fill=(26, 20, 18))
        draw.rounded_rectangle(box(ex - 1.6, ey - 2.4, ex + 1.6, ey - 1.5), radius=0.3, fill=brow)
    # Light falls on the forehead, nose bridge and cheekbones, as from a lamp in front; a specular highlight
    # adds light (it does not multiply), so it shows most on the darkest skin, as in photographs.
    lit = _add(skin, min(HIGHLIGHT, _SKIN_CEILING - max(skin)))
    draw.ellipse(box(cx - 2.2, cy - 4.6, cx + 2.2, cy - 3.2), fill=lit)
    draw.rounded_rectangle(box(cx - 0.6, cy - 1.0, cx + 0.6, cy + 2.0), radius=0.3, fill=lit)
    for side in (-1, 1):
        draw.ellipse(box(cx + side * 2.6 - 1.3, cy + 1.1, cx + side * 2.6 + 1.3, cy + 2.6), fill=lit)
    nose = _scale(skin, 0.82)
    draw.rounded_rectangle(box(cx - 0.5, cy + 2.0, cx + 0.5, cy + 2.8), radius=0.3, fill=nose)
    lips = _mix(_scale(skin, 0.62), (150, 50, 55), 0.35)
    draw.rounded_rectangle(box(cx - 1.7, cy + 3.6, cx + 1.7, cy + 4.5), radius=0.4, fill=lips)


def _draw_torso(draw: Any, box: Any, poly: Any, portrait: Portrait, skin: tuple[int, int, int], cx: float) -> None:
    occupation = portrait.occupation
    draw.rectangle(box(cx - 2.2, 17.5, cx + 2.2, 23.0), fill=_scale(skin, 0.9))  # neck
    shoulders = box(3.0, 21.5, 29.0, 40.0)
    colours = {
        "doctor": _WHITE,
        "nurse": (44, 150, 148),
        "construction worker": (118, 120, 126),
        "chef": (246, 246, 244),
        "judge": (24, 24, 30),
        "executive": (56, 60, 74),
        "firefighter": (186, 156, 92),
        "farmer": (168, 52, 46),
        "police officer": (30, 42, 84),
        "barista": (226, 214, 188),
    }
    draw.rounded_rectangle(shoulders, radius=5.0 * box(0, 0, 1, 0)[2], fill=colours[occupation])
    if occupation == "doctor":  # white coat open over a blue shirt, a stethoscope
        draw.polygon(poly([(13.0, 21.6), (19.0, 21.6), (17.2, 32.0), (14.8, 32.0)]), fill=(150, 188, 228))
        draw.line(poly([(12.2, 21.8), (11.4, 27.5), (13.0, 29.0)]), fill=_DARK, width=3)
        draw.ellipse(box(12.4, 28.2, 14.2, 30.0), fill=(150, 150, 156))
    elif occupation == "nurse":  # scrubs with a V-neck
        draw.polygon(poly([(13.6, 21.4), (18.4, 21.4), (16.0, 25.6)]), fill=_scale(skin, 0.9))
    elif occupation == "construction worker":  # a hi-vis vest with a reflective band
        for x0, x1 in ((5.0, 13.2), (18.8, 27.0)):
            draw.rectangle(box(x0, 22.6, x1, 32.0), fill=(190, 232, 40))
            draw.rectangle(box(x0, 27.6, x1, 28.8), fill=(200, 200, 205))
    elif occupation == "chef":  # a double-breasted jacket with two rows of buttons
        for x in (13.8, 18.2):
            for y in (24.0, 26.6, 29.2):
                draw.ellipse(box(x - 0.5, y - 0.5, x + 0.5, y + 0.5), fill=_DARK)
    elif occupation == "judge":  # a black robe with white bands at the neck
        draw.rectangle(box(14.6, 21.6, 15.8, 25.2), fill=_WHITE)
        draw.rectangle(box(16.2, 21.6, 17.4, 25.2), fill=_WHITE)
    elif occupation == "executive":  # a dark suit, white shirt, red tie
        draw.polygon(poly([(13.0, 21.6), (19.0, 21.6), (16.0, 30.0)]), fill=(244, 244, 246))
        draw.polygon(poly([(15.4, 22.0), (16.6, 22.0), (16.9, 27.4), (16.0, 28.6), (15.1, 27.4)]), fill=(178, 30, 42))
    elif occupation == "firefighter":  # a turnout coat with a reflective stripe
        draw.rectangle(box(3.0, 28.0, 29.0, 29.6), fill=(232, 232, 110))
    elif occupation == "farmer":  # denim overalls over a red shirt
        draw.rectangle(box(10.6, 24.4, 21.4, 32.0), fill=(62, 92, 152))
        for x in (11.0, 20.0):
            draw.rectangle(box(x, 21.6, x + 1.0, 24.6), fill=(62, 92, 152))
    elif occupation == "police officer":  # a uniform shirt with a collar and pocket flaps
        draw.polygon(poly([(13.0, 21.4), (16.0, 24.0), (19.0, 21.4)]), fill=(20, 28, 60))
        draw.rectangle(box(8.0, 25.0, 12.4, 26.0), fill=(20, 28, 60))
    elif occupation == "barista":  # a brown apron with a strap round the neck
        draw.rectangle(box(10.0, 24.0, 22.0, 32.0), fill=(92, 60, 40))
        draw.line(poly([(11.0, 24.0), (13.2, 21.6)]), fill=(92, 60, 40), width=3)
        draw.line(poly([(21.0, 24.0), (18.8, 21.6)]), fill=(92, 60, 40), width=3)


def _draw_hat(draw: Any, box: Any, poly: Any, occupation: str, cx: float, cy: float, hx: float, hy: float) -> None:
    top = cy - hy  # the top of the head
    if occupation == "construction worker":  # a yellow hard hat
        draw.chord(box(cx - hx - 1.0, top - 3.2, cx + hx + 1.0, top + 6.0), 180, 360, fill=(244, 198, 30))
        draw.rectangle(box(cx - hx - 2.2, top + 1.2, cx + hx + 2.2, top + 2.2), fill=(226, 180, 20))
    elif occupation == "chef":  # a tall white toque
        draw.rectangle(box(cx - 4.6, top - 4.0, cx + 4.6, top + 2.0), fill=_WHITE)
        draw.ellipse(box(cx - 5.6, top - 6.5, cx + 5.6, top - 1.0), fill=(250, 250, 250))
    elif occupation == "firefighter":  # a red helmet with a wide brim
        draw.chord(box(cx - hx - 0.6, top - 3.0, cx + hx + 0.6, top + 6.4), 180, 360, fill=(196, 30, 30))
        draw.ellipse(box(cx - hx - 3.0, top + 1.0, cx + hx + 3.0, top + 2.8), fill=(150, 20, 22))
    elif occupation == "farmer":  # a straw hat
        draw.ellipse(box(cx - hx - 4.0, top + 0.6, cx + hx + 4.0, top + 3.0), fill=(214, 184, 112))
        draw.rounded_rectangle(box(cx - 4.4, top - 3.2, cx + 4.4, top + 2.0), radius=1.2, fill=(226, 196, 124))
        draw.rectangle(box(cx - 4.4, top + 0.4, cx + 4.4, top + 1.2), fill=(120, 70, 40))
    elif occupation == "police officer":  # a peaked cap
        draw.rounded_rectangle(box(cx - hx - 0.4, top - 2.4, cx + hx + 0.4, top + 1.8), radius=1.0, fill=(30, 42, 84))
        draw.chord(box(cx - 4.6, top + 0.8, cx + 4.6, top + 3.4), 0, 180, fill=(16, 16, 20))


def _scale(colour: tuple[int, ...], factor: float) -> tuple[int, int, int]:
    r, g, b = (max(0, min(255, round(c * factor))) for c in colour[:3])
    return r, g, b


def _mix(a: tuple[int, ...], b: tuple[int, ...], weight: float) -> tuple[int, int, int]:
    r, g, bl = (round((1 - weight) * x + weight * y) for x, y in zip(a[:3], b[:3], strict=True))
    return r, g, bl


def _add(colour: tuple[int, ...], amount: float) -> tuple[int, int, int]:
    r, g, b = (max(0, min(255, round(c + amount))) for c in colour[:3])
    return r, g, b
