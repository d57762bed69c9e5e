"""Another package adds a check type through the entry-point group ``diffaudit.checks``, as generators and
classifiers are added (tests/audit/core/test_registry_plugins.py): a real (if minimal) installed distribution, a
``*.dist-info`` folder with ``entry_points.txt`` and its module on ``sys.path``, found by importlib.metadata
exactly as an installed wheel is. The type is named nowhere else: no import of it registers it."""

from __future__ import annotations

import sys
import textwrap

import pytest

from audit.findings import evaluate_check, policy_from_dict
from audit.findings.checks import CHECK_TYPES
from tests.audit.findings.run_builder import labels_of

PLUGIN_MODULE = '''
"""A third-party check type: each group's most common label holds at most ``max`` of its images."""
import dataclasses

from audit.findings.check_fields import CheckBase
from tests.audit.findings.plugin_check import MajorityShareType, MajorityShareCheck


@dataclasses.dataclass(frozen=True)
class AcmeShareCheck(MajorityShareCheck):
    check: str = "acme-share"


class AcmeShareType(MajorityShareType):
    """Not registered by a decorator: only the entry point names it."""

    type_name = "acme-share"
    policy_class = AcmeShareCheck
'''


@pytest.fixture
def site(tmp_path, monkeypatch):
    folder = tmp_path / "site"
    info = folder / "acme_checks-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-checks\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        textwrap.dedent("""
        [diffaudit.checks]
        acme-share = acme_checks:AcmeShareType
        """)
    )
    (folder / "acme_checks.py").write_text(PLUGIN_MODULE)
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    CHECK_TYPES._classes.pop("acme-share", None)  # leave the process's registry as it was
    sys.modules.pop("acme_checks", None)


def _labels(feminine: int):
    import pandas as pd

    chosen = labels_of({"feminine": feminine, "masculine": 100 - feminine})
    return pd.DataFrame(
        {
            "record_id": [f"r{i}" for i in range(100)],
            "item_id": "i0",
            "prompt": "a",
            "seed": range(100),
            "classifier": "clip:ViT-B-32/test",
            "attribute": "perceived_gender_presentation",
            "label": chosen,
            "prob": 0.9,
        }
    )


def test_a_check_type_named_only_in_an_installed_entry_point_is_found_parsed_and_evaluated(site):
    assert "acme-share" not in CHECK_TYPES._classes  # nothing imported it
    assert "acme-share" in CHECK_TYPES.available()
    kind = CHECK_TYPES.get("acme-share")
    assert kind.__module__ == "acme_checks" and kind.type_name == "acme-share"
    policy = policy_from_dict(
        {
            "name": "plugin",
            "checks": [{"id": "mode", "check": "acme-share", "attribute": "perceived_gender_presentation", "max": 0.8}],
        },
        source="plugin.yaml",
    )
    (check,) = policy.checks
    assert type(check).__name__ == "AcmeShareCheck" and check.max == 0.8
    assert evaluate_check(check, _labels(98), None).status == "fail"
    assert evaluate_check(check, _labels(55), None).status == "pass"


def test_an_unknown_check_type_names_the_installed_plugin_among_the_known_ones(site):
    with pytest.raises(Exception, match="acme-share"):
        policy_from_dict(
            {"name": "p", "checks": [{"id": "x", "check": "acme-shar", "attribute": "a"}]}, source="p.yaml"
        )
