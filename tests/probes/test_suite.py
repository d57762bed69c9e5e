import pytest

from audit.errors import ConfigError
from probes import builtin_suites, load_suite


def test_every_builtin_suite_loads_and_expands_with_stable_ids():
    for name in builtin_suites():
        first = load_suite(name).expand()
        again = load_suite(name).expand()
        assert first and [i.item_id for i in first] == [i.item_id for i in again]
        assert len({i.item_id for i in first}) == len(first)


def test_expansion_is_templates_times_slot_values(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        """\
name: mine
templates: ["a {who} at {where}", "a portrait of a {who}"]
slots:
  who: [man, {value: woman, attributes: {identity: woman}, reference: {pct_women: 100}}]
  where: [work, home]
negative_prompt: blurry
"""
    )
    items = load_suite(path).expand()
    assert [i.prompt for i in items] == [
        "a man at work",
        "a man at home",
        "a woman at work",
        "a woman at home",
        "a portrait of a man",
        "a portrait of a woman",
    ]
    woman = items[2]
    assert woman.attributes == {"who": "woman", "identity": "woman", "where": "work"}
    assert woman.reference == {"pct_women": 100}
    assert woman.template == "a {who} at {where}"
    assert {i.negative_prompt for i in items} == {"blurry"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\ntemplates: ['a {who}']\nslots: {}\n", r"templates: template 'a \{who\}' uses slot\(s\) who"),
        (
            "name: x\ntemplates: ['a {who}']\nslots: {who: [1, 2]}\n",
            r"slots.who\[0\]: expected a string or a mapping, got 1",
        ),
        ("name: x\ntemplates: []\n", r"at least one template"),
        ("name: x\ntemplate: ['a']\n", r"unknown key 'template'"),
        (
            "name: x\ntemplates: ['a {who}']\nslots: {who: [{value: a, colour: red}]}\n",
            r"unknown key 'slots.who\[0\].colour'",
        ),
    ],
)
def test_malformed_suites_fail_naming_the_file_and_key(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected) as info:
        load_suite(path)
    assert str(info.value).startswith(str(path))
