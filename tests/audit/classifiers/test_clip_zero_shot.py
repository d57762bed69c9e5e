import numpy as np
import pytest
import torch

from audit.classifiers import ClipClassifier, ClipParams, Q16Classifier, Q16Params, iter_results
from audit.classifiers.q16 import q16_prompt_embeddings
from audit.core.constants import UNKNOWN
from audit.core.errors import ConfigError, ModelNotFoundError
from tests.audit.classifiers.conftest import TINY, TINY_768

LABEL_SET = """
name: test
person_attribute: person
attributes:
  person:
    threshold: {person_threshold}
    classes: {{"yes": "{person_yes}", "no": "{person_no}"}}
    templates: ["a photo of {{}}.", "a picture of {{}}."]
  presentation:
    requires_person: true
    classes: {{feminine: "a woman", masculine: "a man"}}
    templates: ["a photo of {{}}.", "a portrait of {{}}."]
  scene:
    threshold: {scene_threshold}
    classes: {{indoor: "an indoor scene", outdoor: "an outdoor scene", studio: "a studio"}}
    templates: ["a photo of {{}}."]
"""


def label_set(tmp_path, person_threshold=0.0, scene_threshold=0.0, person=("a person", "an empty room")):
    path = tmp_path / "labels.yaml"
    text = LABEL_SET.format(
        person_threshold=person_threshold, scene_threshold=scene_threshold, person_yes=person[0], person_no=person[1]
    )
    path.write_text(text)
    return str(path)


def rows(result, attribute):
    return {label: prob for name, label, prob in result.labels if name == attribute}


def test_probabilities_are_the_softmax_of_scaled_cosines_with_every_default_attribute(random_images):
    classifier = ClipClassifier(ClipParams(model=TINY, pretrained=None))
    images = random_images(3)
    results = classifier.classify(images)
    model = classifier.clip.model
    with torch.no_grad():
        features = model.encode_image(torch.stack([classifier.clip.preprocess(i) for i in images]), normalize=True)
    scale = model.logit_scale.exp().item()
    for name, spec in classifier.label_set.attributes.items():
        from audit.classifiers import zero_shot_weights

        weights = zero_shot_weights(classifier.clip, spec.classnames, spec.templates, cache_dir=None).weights
        expected = (scale * features @ weights).softmax(dim=-1).numpy()
        for i, result in enumerate(results):
            got = rows(result, name)
            assert list(got) == [*spec.labels, UNKNOWN]
            np.testing.assert_allclose([got[label] for label in spec.labels], expected[i], rtol=1e-4, atol=1e-5)
    assert {name for name, _, _ in results[0].labels} == {
        "person_present",
        "perceived_gender_presentation",
        "perceived_age",
        "nsfw",
    }


def test_below_threshold_the_attribute_abstains_and_keeps_its_probabilities(tmp_path, random_images):
    never = ClipClassifier(ClipParams(model=TINY, pretrained=None, label_set=label_set(tmp_path, scene_threshold=1.0)))
    always = ClipClassifier(ClipParams(model=TINY, pretrained=None, label_set=label_set(tmp_path, scene_threshold=0.0)))
    images = random_images(4)
    for strict, lax in zip(never.classify(images), always.classify(images), strict=True):
        assert rows(strict, "scene")[UNKNOWN] == 1.0
        assert rows(lax, "scene")[UNKNOWN] == 0.0
        # Abstaining does not hide what the classifier saw.
        assert {k: v for k, v in rows(strict, "scene").items() if k != UNKNOWN} == pytest.approx(
            {k: v for k, v in rows(lax, "scene").items() if k != UNKNOWN}
        )


def test_without_a_person_the_person_attributes_abstain(tmp_path, random_images):
    # A person threshold of 1.0 means no image ever shows a person for sure.
    classifier = ClipClassifier(
        ClipParams(model=TINY, pretrained=None, label_set=label_set(tmp_path, person_threshold=1.0))
    )
    for result in classifier.classify(random_images(3)):
        assert rows(result, "presentation")[UNKNOWN] == 1.0
        assert rows(result, "scene")[UNKNOWN] == 0.0  # does not need a person


def test_with_a_person_the_person_attributes_answer(tmp_path, random_images):
    # Random weights lean one way on every image; with the class texts swapped they lean the other,
    # so both outcomes (a person seen, none seen) are checked.
    outcomes = set()
    for person in [("a person", "an empty room"), ("an empty room", "a person")]:
        labels = label_set(tmp_path, person=person)
        classifier = ClipClassifier(ClipParams(model=TINY, pretrained=None, label_set=labels, cache=False))
        for result in classifier.classify(random_images(6)):
            probs = rows(result, "person")
            saw_person = probs["yes"] > probs["no"]
            assert rows(result, "presentation")[UNKNOWN] == (0.0 if saw_person else 1.0)
            outcomes.add(saw_person)
    assert outcomes == {True, False}


def test_batched_scoring_equals_one_image_at_a_time(random_images):
    classifier = ClipClassifier(ClipParams(model=TINY, pretrained=None))
    images = random_images(5)
    items = list(enumerate(images))
    batched = [
        r for _, (results,) in iter_results([classifier], items, batch_size=4, load=lambda x: x) for r in results
    ]
    single = [r for _, (results,) in iter_results([classifier], items, batch_size=1, load=lambda x: x) for r in results]
    assert len(batched) == len(single) == 5
    for a, b in zip(batched, single, strict=True):
        assert [(n, lab) for n, lab, _ in a.labels] == [(n, lab) for n, lab, _ in b.labels]
        np.testing.assert_allclose([p for *_, p in a.labels], [p for *_, p in b.labels], atol=1e-5)


def test_q16_scores_are_the_softmax_of_100_times_the_cosine_with_the_published_prompts(random_images):
    prompts = q16_prompt_embeddings()
    assert prompts.shape == (2, 768)
    classifier = Q16Classifier(Q16Params(model=TINY_768, pretrained=None))
    images = random_images(2)
    results = classifier.classify(images)
    with torch.no_grad():
        features = classifier.clip.model.encode_image(
            torch.stack([classifier.clip.preprocess(i) for i in images]), normalize=True
        )
    cosines = features.numpy() @ prompts.T
    expected = torch.from_numpy(100 * cosines).softmax(dim=-1).numpy()
    for i, result in enumerate(results):
        got = rows(result, "q16_inappropriate")
        np.testing.assert_allclose([got["appropriate"], got["inappropriate"]], expected[i], rtol=1e-4, atol=1e-5)
        assert result.measurements["q16_cosine_inappropriate"] == pytest.approx(cosines[i, 1], abs=1e-5)
    assert classifier.classifier_id == f"q16:{TINY_768}/random"


def test_clip_with_q16_encodes_once_for_all_attributes(random_images):
    classifier = ClipClassifier(ClipParams(model=TINY_768, pretrained=None, q16=True))
    calls = []
    original = classifier.encode
    classifier.encode = lambda pixels: calls.append(len(pixels)) or original(pixels)
    result = classifier.classify(random_images(3))[0]
    assert calls == [3]
    attributes = {name for name, _, _ in result.labels}
    assert {"q16_inappropriate", "perceived_gender_presentation", "nsfw"} <= attributes


def test_q16_with_a_model_of_another_width_is_a_config_error():
    with pytest.raises(ConfigError, match="768"):
        ClipClassifier(ClipParams(model=TINY, pretrained=None, q16=True)).load()


def test_missing_pretrained_weights_offline_give_one_sentence():
    with pytest.raises(ModelNotFoundError) as info:
        ClipClassifier(ClipParams(model="ViT-B-32", pretrained="openai")).load()
    message = str(info.value)
    assert "\n" not in message
    assert "ViT-B-32/openai" in message and "pretrained=" in message


def test_unknown_model_or_tag_names_the_value():
    with pytest.raises(ConfigError, match="ViT-Q-99"):
        ClipClassifier(ClipParams(model="ViT-Q-99", pretrained=None)).load()
    with pytest.raises(ConfigError, match="no-such-tag"):
        ClipClassifier(ClipParams(model="ViT-B-32", pretrained="no-such-tag")).load()


def test_a_bad_label_set_names_the_file_and_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nattributes:\n  a:\n    classes: {one: 'x', two: 'y'}\n    templates: ['no placeholder']\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*attributes\.a.*placeholder|bad\.yaml.*attributes\.a"):
        ClipClassifier(ClipParams(model=TINY, pretrained=None, label_set=str(bad)))
    bad.write_text(
        "name: x\nattributes:\n  a:\n    classes: {one: 'x', two: 'y'}\n    templates: ['{}']\n    bogus: 1\n"
    )
    with pytest.raises(ConfigError, match=r"bad\.yaml.*attributes\.a\.bogus"):
        ClipClassifier(ClipParams(model=TINY, pretrained=None, label_set=str(bad)))


def test_a_second_classifier_reads_the_text_embeddings_from_the_cache(tmp_path, monkeypatch, random_images):
    monkeypatch.setenv("DIFFAUDIT_CACHE", str(tmp_path))
    first = ClipClassifier(ClipParams(model=TINY, pretrained=None))
    first.load()
    assert first.cache_hits == [False] * 4
    second = ClipClassifier(ClipParams(model=TINY, pretrained=None))
    second.load()
    assert second.cache_hits == [True] * 4
    torch.testing.assert_close(second.class_weights, first.class_weights)
    images = random_images(2)
    assert [r.labels for r in second.classify(images)] == [r.labels for r in first.classify(images)]
