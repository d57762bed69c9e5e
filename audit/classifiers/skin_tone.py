"""Colorimetric skin tone on detected faces: ITA with its category, Monk Skin Tone level, lightness, hue.

No learned weights. Per image: faces are found with OpenCV's frontal-face
Haar cascade (the largest one is measured, all are counted); skin pixels are
selected inside the face box, leaving out the hair line, the eye band and the
box's edges (background); they are converted from sRGB to CIELAB (D65), and
their median colour gives

- the Individual Typology Angle ITA = atan2(L* - 50, b*) in degrees
  (Chardon et al. 1991) and its six categories (Chardon et al. 1991;
  Del Bino et al. 2006);
- the nearest Monk Skin Tone level 1-10 by CIELAB distance (ΔE*76) to the
  scale's reference colours (Monk 2023, skintone.google);
- perceptual lightness L* and hue angle h = atan2(b*, a*) in degrees, the two
  dimensions Thong, Joniak & Xiang (ICCV 2023) recommend over a single scale.

Reference colours and thresholds come from ``data/skin_tone_reference.json``
(see PROVENANCE.md). ``unknown`` when no face is found or too few skin pixels
remain.

Why not the RGB skin rule of Kolkur et al. (2017) used by DALL-Eval and HELM:
its ``R > 95`` clause rejects Monk levels 8-10 outright, so the darkest skin
would always come out ``unknown`` — a bias in a bias tool. Pixels are kept
instead by a permissive CIELAB hue/chroma rule and a lightness trim that drops
shadows, brows and nostrils (darkest 10%) and highlights (brightest 5%).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from audit.classifiers.base import Classifier, ClassifierParams, ImageResult, register
from audit.core.constants import UNKNOWN

ITA_ATTRIBUTE = "ita_category"
MONK_ATTRIBUTE = "monk_skin_tone"
FACE_ATTRIBUTE = "face_detected"
MEASUREMENTS = ("face_count", "skin_pixels", "ita_deg", "lightness", "hue_deg", "lab_a", "lab_b", "monk_delta_e")

# sRGB (IEC 61966-2-1) primaries to CIE XYZ, and the D65 reference white.
_SRGB_TO_XYZ = (
    (0.4124564, 0.3575761, 0.1804375),
    (0.2126729, 0.7151522, 0.0721750),
    (0.0193339, 0.1191920, 0.9503041),
)
_D65_WHITE = (0.95047, 1.0, 1.08883)

# Parts of the Haar face box that are skin on a frontal face (fractions of its size):
# columns inside the edges, and the forehead and cheek/chin bands around the eyes.
_SKIN_COLUMNS = (0.15, 0.85)
_SKIN_ROWS = ((0.06, 0.22), (0.52, 0.92))
# Skin hues (CIELAB hue angle, degrees) and the least chroma that is not grey.
_SKIN_HUE_RANGE = (-15.0, 100.0)
_MIN_CHROMA = 1.5
_LIGHTNESS_TRIM = (0.10, 0.95)
# The Haar cascade finds no face under about 24 pixels; smaller images (the 32-pixel sandbox
# portraits, thumbnails) are enlarged by a whole factor to at least this side before detection.
_MIN_DETECTION_SIDE = 128


@functools.cache
def skin_tone_reference() -> dict[str, Any]:
    """The Monk colours, ITA categories and their sources, from the package's data file."""
    text = (resources.files("audit.classifiers") / "data" / "skin_tone_reference.json").read_text(encoding="utf-8")
    return json.loads(text)


def srgb_to_lab(rgb: Any) -> Any:
    """CIELAB (D65) of sRGB values in 0..255, shape ``(..., 3)`` → ``(..., 3)`` float64."""
    import numpy as np

    c = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ np.asarray(_SRGB_TO_XYZ).T / np.asarray(_D65_WHITE)
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    lightness = 116 * f[..., 1] - 16
    a = 500 * (f[..., 0] - f[..., 1])
    b = 200 * (f[..., 1] - f[..., 2])
    return np.stack([lightness, a, b], axis=-1)


def ita_degrees(lightness: float, b: float) -> float:
    """Individual Typology Angle, atan2 form so that b* = 0 is defined."""
    return math.degrees(math.atan2(lightness - 50.0, b))


def ita_category(ita: float) -> str:
    """The six ITA categories; each lower bound is exclusive (ITA > 55 is 'very light')."""
    for entry in skin_tone_reference()["ita_six_categories_chardon1991_delbino2006"]:
        low = entry["ita_min_exclusive"]
        if low is None or ita > low:
            return entry["category"]
    raise AssertionError("the last ITA category has no lower bound")


def monk_level(lab: Sequence[float]) -> tuple[int, float]:
    """The nearest Monk Skin Tone level (1-10) by ΔE*76, and that distance."""
    best = min(
        skin_tone_reference()["monk_skin_tone_scale"],
        key=lambda entry: math.dist(entry["cielab_d65_computed"], lab),
    )
    return int(best["mst"]), math.dist(best["cielab_d65_computed"], lab)


@dataclasses.dataclass(frozen=True)
class SkinColour:
    """The colorimetric description of a set of skin pixels."""

    lab: tuple[float, float, float]
    ita_deg: float
    ita_category: str
    monk_level: int
    monk_delta_e: float
    lightness: float
    hue_deg: float
    pixels: int


def skin_colour(lab_pixels: Any) -> SkinColour:
    """Describe skin pixels given in CIELAB ``(n, 3)`` by their median colour."""
    import numpy as np

    lab = np.median(np.asarray(lab_pixels, dtype=np.float64).reshape(-1, 3), axis=0)
    lightness, a, b = (float(v) for v in lab)
    ita = ita_degrees(lightness, b)
    level, distance = monk_level((lightness, a, b))
    return SkinColour(
        lab=(lightness, a, b),
        ita_deg=ita,
        ita_category=ita_category(ita),
        monk_level=level,
        monk_delta_e=distance,
        lightness=lightness,
        hue_deg=math.degrees(math.atan2(b, a)),
        pixels=int(np.asarray(lab_pixels).reshape(-1, 3).shape[0]),
    )


def select_skin(face_rgb: Any) -> Any:
    """CIELAB values ``(n, 3)`` of the skin pixels of a face crop (RGB uint8, the Haar box)."""
    import numpy as np

    h, w = face_rgb.shape[:2]
    x0, x1 = (round(f * w) for f in _SKIN_COLUMNS)
    bands = [face_rgb[round(lo * h) : round(hi * h), x0:x1] for lo, hi in _SKIN_ROWS]
    lab = np.concatenate([srgb_to_lab(band.reshape(-1, 3)) for band in bands], axis=0)
    hue = np.degrees(np.arctan2(lab[:, 2], lab[:, 1]))
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    lab = lab[(hue >= _SKIN_HUE_RANGE[0]) & (hue <= _SKIN_HUE_RANGE[1]) & (chroma >= _MIN_CHROMA)]
    if len(lab) == 0:
        return lab
    low, high = np.quantile(lab[:, 0], _LIGHTNESS_TRIM)
    return lab[(lab[:, 0] >= low) & (lab[:, 0] <= high)]


@functools.cache
def _face_cascade() -> Any:
    import cv2

    path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        from audit.core.errors import ModelNotFoundError

        raise ModelNotFoundError(
            f"OpenCV's Haar face cascade is missing ({path}); install opencv-python-headless<5, which ships it"
        )
    return cascade


def detect_faces(
    rgb: Any, *, min_neighbors: int = 5, min_face_fraction: float = 0.08
) -> list[tuple[int, int, int, int]]:
    """Face boxes ``(x, y, w, h)`` in an RGB uint8 image, largest first."""
    import cv2

    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    side = max(16, round(min_face_fraction * min(gray.shape)))
    boxes = _face_cascade().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=min_neighbors, minSize=(side, side))
    faces = [tuple(int(v) for v in box) for box in (boxes if len(boxes) else [])]
    return sorted(faces, key=lambda box: box[2] * box[3], reverse=True)


@dataclasses.dataclass(frozen=True)
class SkinToneParams(ClassifierParams):
    """Face-detection strictness and how many skin pixels a measurement needs."""

    min_neighbors: int = 5
    min_face_fraction: float = 0.08
    min_skin_pixels: int = 30
    min_skin_fraction: float = 0.15

    def __post_init__(self) -> None:
        if self.min_neighbors < 1:
            raise ValueError(f"min_neighbors: must be at least 1, got {self.min_neighbors}")
        if not 0.0 < self.min_face_fraction < 1.0:
            raise ValueError(f"min_face_fraction: must lie in (0, 1), got {self.min_face_fraction}")
        if not 0.0 <= self.min_skin_fraction <= 1.0:
            raise ValueError(f"min_skin_fraction: must lie in [0, 1], got {self.min_skin_fraction}")


@register
class SkinToneClassifier(Classifier):
    """Skin tone of the largest detected face, measured in CIELAB (no learned weights)."""

    type_name = "skin_tone"
    Params = SkinToneParams
    params: SkinToneParams

    @property
    def classifier_id(self) -> str:
        return "skin_tone:haar-cielab"

    def libraries(self) -> Sequence[str]:
        return ("opencv-python-headless", "numpy")

    @classmethod
    def example_params(cls, workdir: Path) -> SkinToneParams:
        return SkinToneParams()

    def prepare(self, images: Sequence[Any]) -> Any:
        import numpy as np

        return [np.asarray(image.convert("RGB")) for image in images]

    def predict(self, prepared: Any) -> list[ImageResult]:
        return [self.measure(rgb) for rgb in prepared]

    def measure(self, rgb: Any) -> ImageResult:
        """Scores and measurements for one RGB uint8 image."""
        rgb = _enlarged(rgb)
        result = ImageResult()
        faces = detect_faces(
            rgb, min_neighbors=self.params.min_neighbors, min_face_fraction=self.params.min_face_fraction
        )
        result.measurements = {name: math.nan for name in MEASUREMENTS}
        result.measurements["face_count"] = float(len(faces))
        result.add_decision(FACE_ATTRIBUTE, "yes" if faces else "no")
        colour = None
        if faces:
            x, y, w, h = faces[0]
            skin = select_skin(rgb[y : y + h, x : x + w])
            result.measurements["skin_pixels"] = float(len(skin))
            region = w * (_SKIN_COLUMNS[1] - _SKIN_COLUMNS[0]) * h * sum(hi - lo for lo, hi in _SKIN_ROWS)
            if len(skin) >= max(self.params.min_skin_pixels, self.params.min_skin_fraction * region):
                colour = skin_colour(skin)
        if colour is None:
            result.add_decision(ITA_ATTRIBUTE, UNKNOWN)
            result.add_decision(MONK_ATTRIBUTE, UNKNOWN)
            return result
        result.add_decision(ITA_ATTRIBUTE, colour.ita_category)
        result.add_decision(MONK_ATTRIBUTE, str(colour.monk_level))
        result.measurements.update(
            ita_deg=colour.ita_deg,
            lightness=colour.lightness,
            hue_deg=colour.hue_deg,
            lab_a=colour.lab[1],
            lab_b=colour.lab[2],
            monk_delta_e=colour.monk_delta_e,
        )
        return result


def _enlarged(rgb: Any) -> Any:
    """``rgb`` enlarged (bicubic) by the least whole factor that brings its short side to the detection size."""
    import cv2

    side = min(rgb.shape[:2])
    factor = -(-_MIN_DETECTION_SIDE // side)
    if factor <= 1:
        return rgb
    return cv2.resize(rgb, (rgb.shape[1] * factor, rgb.shape[0] * factor), interpolation=cv2.INTER_CUBIC)
