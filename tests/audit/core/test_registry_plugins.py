"""Other packages add generator and classifier types through entry-point groups, as pytest plugins do.

Each test installs a real (if minimal) distribution: a ``*.dist-info`` folder with ``entry_points.txt`` and
its module on ``sys.path``, found by importlib.metadata exactly as an installed wheel is.
"""

from __future__ import annotations

import textwrap

import pytest

from audit.config import config_from_dict
from audit.core.errors import DiffauditError
from generators.registry import GENERATORS

PLUGIN_MODULE = '''
"""A third-party generator and classifier, as another package would write them."""
from audit.classifiers.base import Classifier, ImageResult
from generators.base import Generator
from generators.tiny_gan import tiny_dcgan


class CheckerGenerator(Generator):
    """Grey images whose brightness is the seed."""

    type_name = "acme-checker"
    reads_prompt = False

    def _generate_batch(self, items, rngs):
        from PIL import Image

        return [Image.new("RGB", (8, 8), (rng.initial_seed() * 10 % 250 + 5,) * 3) for rng in rngs]


class BrightnessClassifier(Classifier):
    """Bright or dark."""

    type_name = "acme-brightness"

    def predict(self, prepared):
        results = []
        for image in prepared:
            result = ImageResult()
            result.add_decision("brightness", "bright" if image.getpixel((0, 0))[0] > 127 else "dark")
            results.append(result)
        return results


def acme_model(latent_dim: int = 8):
    return tiny_dcgan(latent_dim)
'''


def _install(site, name: str, entry_points: str, module: str | None = None) -> None:
    info = site / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    if module is not None:
        (site / f"{name.replace('-', '_')}.py").write_text(module)


@pytest.fixture
def site(tmp_path, monkeypatch):
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    from audit.classifiers.base import CLASSIFIERS

    for registry in (GENERATORS, CLASSIFIERS):  # leave the process's registries as they were
        for name in [n for n in registry._classes if n.startswith("acme-")]:
            del registry._classes[name]


ACME = """
    [diffaudit.generators]
    acme-checker = acme_plugin:CheckerGenerator
    [diffaudit.classifiers]
    acme-brightness = acme_plugin:BrightnessClassifier
    [diffaudit.models]
    acme-gan = acme_plugin:acme_model
"""


def test_an_installed_package_adds_a_generator_and_a_classifier_to_run_configs(site):
    _install(site, "acme-plugin", ACME, PLUGIN_MODULE)
    assert "acme-checker" in GENERATORS.available()
    config = config_from_dict(
        {
            "name": "plugged",
            "generator": {"type": "acme-checker", "batch_size": 2},
            "probes": [{"suite": "unconditional", "seeds": 2}],
            "classifiers": [{"type": "acme-brightness"}],
        },
        source="plugged.yaml",
    )
    assert type(config.generator.params).__name__ == "GeneratorParams"
    generator_cls = GENERATORS.get("acme-checker")
    assert generator_cls.__module__ == "acme_plugin" and generator_cls.type_name == "acme-checker"
    from audit.classifiers import classifier_class

    classifier = classifier_class("acme-brightness")()
    from PIL import Image

    (result,) = classifier.classify([Image.new("RGB", (4, 4), (200, 200, 200))])
    assert result.labels == [("brightness", "bright", 1.0)]


def test_a_model_entry_point_of_another_package_drives_the_python_generator(site, tmp_path):
    _install(site, "acme-plugin", ACME, PLUGIN_MODULE)
    from audit.core.run_store import RunStore
    from generators import PythonModelGenerator, PythonModelParams
    from probes import load_suite

    params = PythonModelParams(model="entry-point:acme-gan", latent_shape=[8, 1, 1], batch_size=2)
    with RunStore.create(tmp_path / "run", config={}) as store:
        records = PythonModelGenerator(params).generate(load_suite("unconditional").expand(), [0, 1], store)
    assert all(r.ok for r in records)
    assert records[0].meta["model_source"] == "acme_plugin:acme_model (entry point 'acme-gan' of acme-plugin 0.1)"


def test_a_plugin_that_fails_to_import_stops_only_its_own_runs_in_one_line(site):
    _install(
        site,
        "broken-plugin",
        "[diffaudit.generators]\nacme-broken = broken_plugin:Nothing\n",
        "raise ImportError('needs libfoo 2')\n",
    )
    assert GENERATORS.get("ddpm").type_name == "ddpm"  # other types still work
    with pytest.raises(DiffauditError) as caught:
        GENERATORS.get("acme-broken")
    message = str(caught.value)
    assert "generator plugin 'acme-broken'" in message and "broken-plugin 0.1" in message
    assert "ImportError: needs libfoo 2" in message and "\n" not in message


def test_a_plugin_whose_class_names_another_type_is_refused(site):
    _install(site, "acme-plugin", "[diffaudit.generators]\nacme-other = acme_plugin:CheckerGenerator\n", PLUGIN_MODULE)
    with pytest.raises(DiffauditError, match=r"must name a generator class whose type_name is 'acme-other'"):
        GENERATORS.get("acme-other")


def test_an_unknown_type_lists_the_plugins_too(site):
    _install(site, "acme-plugin", ACME, PLUGIN_MODULE)
    with pytest.raises(KeyError, match=r"unknown generator type 'nope'; available: .*acme-checker.*ddpm"):
        GENERATORS.get("nope")
