import pytest
import torch

from audit.classifiers import build_zero_shot_weights, load_clip, zero_shot_weights
from tests.audit.classifiers.conftest import TINY

CLASSNAMES = ["a cat", "a dog", "a bird"]
TEMPLATES = ["a photo of {}.", "a drawing of {}.", "{} in the wild."]


@pytest.fixture(scope="module")
def tiny():
    return load_clip(TINY, None)


def test_class_embeddings_are_the_normalised_mean_of_normalised_template_embeddings(tiny):
    weights = build_zero_shot_weights(tiny.model, tiny.tokenizer, CLASSNAMES, TEMPLATES)
    assert weights.shape == (32, 3)
    with torch.no_grad():
        for j, name in enumerate(CLASSNAMES):
            per_template = tiny.model.encode_text(tiny.tokenizer([t.format(name) for t in TEMPLATES])).float()
            per_template = per_template / per_template.norm(dim=-1, keepdim=True)
            expected = per_template.mean(dim=0)
            expected = expected / expected.norm()
            torch.testing.assert_close(weights[:, j], expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(weights.norm(dim=0), torch.ones(3))


def test_templates_matter_so_ensembling_is_not_a_single_prompt(tiny):
    ensembled = build_zero_shot_weights(tiny.model, tiny.tokenizer, CLASSNAMES, TEMPLATES)
    single = build_zero_shot_weights(tiny.model, tiny.tokenizer, CLASSNAMES, TEMPLATES[:1])
    assert not torch.allclose(ensembled, single, atol=1e-3)


def test_cache_hit_returns_the_same_matrix_and_changed_templates_miss(tiny, tmp_path):
    first = zero_shot_weights(tiny, CLASSNAMES, TEMPLATES, cache_dir=tmp_path)
    assert not first.cache_hit and first.cache_path.is_file()
    again = zero_shot_weights(tiny, CLASSNAMES, TEMPLATES, cache_dir=tmp_path)
    assert again.cache_hit and again.cache_path == first.cache_path
    torch.testing.assert_close(again.weights, first.weights)

    changed = zero_shot_weights(tiny, CLASSNAMES, [*TEMPLATES[:2], "a close-up of {}."], cache_dir=tmp_path)
    assert not changed.cache_hit and changed.cache_path != first.cache_path
    renamed = zero_shot_weights(tiny, ["a cat", "a dog", "a fish"], TEMPLATES, cache_dir=tmp_path)
    assert not renamed.cache_hit
    assert len(list((tmp_path / "zero_shot").glob("*.safetensors"))) == 3


def test_a_cached_matrix_is_not_reused_for_other_weights(tiny, tmp_path, monkeypatch):
    import dataclasses

    zero_shot_weights(tiny, CLASSNAMES, TEMPLATES, cache_dir=tmp_path)
    other = dataclasses.replace(tiny, fingerprint="0" * 16)
    assert not zero_shot_weights(other, CLASSNAMES, TEMPLATES, cache_dir=tmp_path).cache_hit


def test_a_damaged_cache_file_is_rebuilt(tiny, tmp_path):
    first = zero_shot_weights(tiny, CLASSNAMES, TEMPLATES, cache_dir=tmp_path)
    first.cache_path.write_bytes(b"not safetensors")
    rebuilt = zero_shot_weights(tiny, CLASSNAMES, TEMPLATES, cache_dir=tmp_path)
    assert not rebuilt.cache_hit
    torch.testing.assert_close(rebuilt.weights, first.weights)


def test_random_weights_are_the_same_on_every_load():
    from audit.classifiers.clip_model import _load_clip

    a = load_clip(TINY, None)
    _load_clip.cache_clear()
    b = load_clip(TINY, None)
    assert a.model is not b.model
    assert a.fingerprint == b.fingerprint
