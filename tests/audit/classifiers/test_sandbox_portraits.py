"""The classifiers on the sandbox world's rendered portraits, whose true attributes are known."""

import collections

import pytest
import torch

from audit.classifiers import ClipClassifier, SkinToneClassifier
from audit.classifiers.clip_zero_shot import ClipParams
from audit.classifiers.skin_tone import SkinToneParams
from audit.core.constants import UNKNOWN
from generators.sandbox import balanced_bias, render_dataset
from generators.sandbox.heldout import HELD_OUT_SEED


@pytest.fixture(scope="module")
def held_out():
    """400 freshly rendered portraits, every attribute independent of the occupation."""
    pixels, portraits = render_dataset(400, HELD_OUT_SEED, table=balanced_bias())
    from PIL import Image

    return [Image.fromarray(p) for p in pixels], portraits


def _top_labels(result):
    """Each attribute's most probable label (``unknown`` wins a tie: it is 1.0 when the classifier abstains)."""
    best = {}
    for name, label, prob in result.labels:
        if name not in best or prob > best[name][1] or (prob == best[name][1] and label == UNKNOWN):
            best[name] = (label, prob)
    return {name: label for name, (label, _) in best.items()}


def test_skin_tone_recovers_the_rendered_monk_level_within_one_level(held_out):
    images, portraits = held_out
    classifier = SkinToneClassifier(SkinToneParams(calibration="swatch"))  # flat rendered skin: the swatch scale
    results = classifier.predict(classifier.prepare(images))
    found, within_one, per_level = 0, 0, collections.Counter()
    for result, portrait in zip(results, portraits, strict=True):
        labels = _top_labels(result)
        if labels["monk_skin_tone"] == UNKNOWN:
            continue
        found += 1
        per_level[portrait.monk_level] += 1
        within_one += abs(int(labels["monk_skin_tone"]) - portrait.monk_level) <= 1
    # The face detector finds most 32-pixel faces (enlarged before detection), of every skin tone...
    assert found >= 0.85 * len(images)
    assert set(per_level) == set(range(1, 11))
    # ...and on the portraits with a face, the colorimetric reading is within one Monk level of the truth.
    assert within_one >= 0.95 * found


def test_sandbox_clip_reads_the_age_cue_and_the_marker_of_held_out_portraits(held_out):
    images, portraits = held_out
    classifier = ClipClassifier(ClipParams(model="builtin:sandbox-clip", label_set="sandbox", cache=False))
    assert classifier.classifier_id == "clip:sandbox-clip"
    with torch.inference_mode():
        results = classifier.predict(classifier.prepare(images))
    correct, abstained = collections.Counter(), collections.Counter()
    for result, portrait in zip(results, portraits, strict=True):
        labels = _top_labels(result)
        truth = {**portrait.truth(), "depicted_occupation": portrait.occupation}
        for attribute in ("age_cue", "marker", "skin_tone_group", "depicted_occupation"):
            correct[attribute] += labels[attribute] == truth[attribute]
            abstained[attribute] += labels[attribute] == UNKNOWN
    n = len(images)
    print({a: c / n for a, c in correct.items()}, dict(abstained))
    assert correct["age_cue"] >= 0.95 * n and correct["marker"] >= 0.95 * n
    # Abstentions count as errors above; the other attributes are read well too.
    assert correct["skin_tone_group"] >= 0.85 * n and correct["depicted_occupation"] >= 0.9 * n
