"""The shipped `dcgan-faces` audit: a real generator, gated only on classifiers validated on real photographs."""

from __future__ import annotations

from audit.config import load_config
from audit.findings.analysis import load_validation
from audit.findings.policy import load_policy


def test_the_dcgan_faces_config_drives_the_python_generator_through_its_entry_point():
    config = load_config("dcgan-faces")
    assert config.generator.type == "python"
    assert config.generator.params.model == "entry-point:dcgan-faces"
    assert config.generator.params.conditioning == "latent" and config.generator.params.latent_shape == [100, 1, 1]
    assert [p.suite for p in config.probes] == ["unconditional"]
    assert config.probes[0].seeds >= 1000  # thousands of images, as `diffaudit plan` sized them


def test_every_gating_check_of_the_dcgan_faces_policy_reads_a_validated_attribute():
    config = load_config("dcgan-faces")
    policy = load_policy(config.policy)
    validated = {attribute for spec in config.classifiers for (_, attribute) in load_validation(list(spec.validation))}
    gating = [check for check in policy.checks if check.severity == "error"]
    assert gating
    for check in gating:
        assert check.require_validation, check.id  # without its validation the check is "not judged", never passed
        assert check.attribute in validated, check.id
    # The Monk groups carry a validation on this generator's own faces (eye labels of one annotator, issue 29):
    # the analysis can correct their shares, but the parity check still warns, it does not gate.
    (parity,) = [check for check in policy.checks if check.attribute == "monk_group"]
    assert parity.severity == "warning" and parity.attribute in validated
    (skin,) = [spec for spec in config.classifiers if spec.type == "skin_tone"]
    assert skin.params["calibration"] == "render"  # the reading fitted for these renders, not the photo one
