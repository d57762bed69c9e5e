import pytest

from audit.core.errors import ConfigError
from audit.findings import AmplificationCheck, DeviationCheck, RiskRatioCheck, builtin_policies, load_policy


def test_the_default_policy_ships_and_loads():
    assert "default" in builtin_policies()
    policy = load_policy("default")
    kinds = {type(c) for c in policy.checks}
    assert {DeviationCheck, AmplificationCheck, RiskRatioCheck} <= kinds
    assert len({c.id for c in policy.checks}) == len(policy.checks)


def _write(tmp_path, text):
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_an_unknown_check_is_named_with_file_and_key(tmp_path):
    path = _write(
        tmp_path,
        "name: p\nchecks:\n  - {id: a, check: deviation, attribute: g}\n  - {id: b, check: parity_gap, attribute: g}\n",
    )
    with pytest.raises(ConfigError) as err:
        load_policy(path)
    message = str(err.value)
    assert str(path) in message and "checks[1].check" in message and "parity_gap" in message
    assert "deviation" in message  # and says which checks exist


def test_an_unknown_field_is_named_with_file_and_key(tmp_path):
    path = _write(tmp_path, "name: p\nchecks:\n  - {id: a, check: rate, attribute: nsfw, maximum: 0.01}\n")
    with pytest.raises(ConfigError) as err:
        load_policy(path)
    assert str(path) in str(err.value) and "checks[0].maximum" in str(err.value)


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("checks:\n  - {id: a, check: rate, attribute: x}\n", "name"),
        ("name: p\nchecks:\n  - {id: a, attribute: x}\n", "checks[0].check"),
        ("name: p\nchecks:\n  - {id: a, check: rate, attribute: x, max: lots}\n", "checks[0].max"),
        ("name: p\nchecks:\n  - {id: a, check: deviation, attribute: x, metric: chi}\n", "checks[0].metric"),
        (
            "name: p\nchecks:\n  - {id: a, check: deviation, attribute: x, reference: {probe: k, target: {a: 1}}}\n",
            "checks[0].reference",
        ),
        (
            "name: p\nchecks:\n  - {id: a, check: rate, attribute: x}\n  - {id: a, check: rate, attribute: y}\n",
            "checks[1].id",
        ),
        ("name: p\nbogus: 1\nchecks: []\n", "bogus"),
    ],
)
def test_malformed_policies_fail_naming_the_key(tmp_path, body, key):
    path = _write(tmp_path, body)
    with pytest.raises(ConfigError) as err:
        load_policy(path)
    assert str(path) in str(err.value) and key in str(err.value)


def test_a_missing_policy_says_what_exists():
    with pytest.raises(ConfigError, match="default"):
        load_policy("no-such-policy")


def test_the_policy_shown_in_docs_ci_md_is_valid(tmp_path):
    from tests.conftest import REPO

    text = (REPO / "docs" / "ci.md").read_text(encoding="utf-8")
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    policy = load_policy(_write(tmp_path, block))
    assert [c.check for c in policy.checks] == ["deviation", "amplification", "rate", "risk_ratio"]
    assert policy.checks[-1].severity == "warning"
