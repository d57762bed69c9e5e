import pytest

from audit.core.errors import ConfigError
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


def test_values_show_their_text_and_pairs_share_everything_but_one_slot(tmp_path):
    path = tmp_path / "pairs.yaml"
    path.write_text(
        """\
name: pairs
templates: ["a photo of {who} who works as {job}"]
pair_over: who
reference_source: {source: test table, year: 2020}
slots:
  who: [{value: man, text: a man}, {value: woman, text: a woman}]
  job:
    - {value: accountant, text: an accountant, reference: {pct_women: 58.8}}
    - {value: baker, text: a baker}
"""
    )
    items = load_suite(path).expand()
    assert [i.prompt for i in items] == [
        "a photo of a man who works as an accountant",
        "a photo of a man who works as a baker",
        "a photo of a woman who works as an accountant",
        "a photo of a woman who works as a baker",
    ]
    assert items[0].attributes == {"who": "man", "job": "accountant"}
    assert items[0].pair_id == items[2].pair_id != items[1].pair_id == items[3].pair_id
    assert [i.group for i in items] == ["man", "man", "woman", "woman"]
    # The source is recorded where a value brings figures, and only there.
    assert items[0].reference == {"source": "test table", "year": 2020, "pct_women": 58.8}
    assert items[1].reference == {}


def test_rows_from_a_csv_with_own_seeds_and_selection(tmp_path):
    (tmp_path / "prompts.csv").write_text(
        'id,text,tags,level,seed,rate\n1,a red bus,"x, y",1,7,12.5\n2,a blue car,y,0,9,\n3,a green tree,z,1,11,3\n'
    )
    path = tmp_path / "rows.yaml"
    path.write_text(
        """\
name: rows
screening: {mode: record}
rows:
  file: prompts.csv
  prompt: text
  seed: seed
  list_columns: [tags]
  attributes: {number: id, tags: tags, level: level}
  reference: {rate: rate}
"""
    )
    items = load_suite(path).expand()
    assert [i.prompt for i in items] == ["a red bus", "a blue car", "a green tree"]
    assert [i.seeds for i in items] == [(7,), (9,), (11,)]
    assert items[0].attributes == {"number": 1, "tags": ["x", "y"], "level": 1}
    assert items[0].reference == {"rate": 12.5} and items[1].reference == {"rate": None}
    assert [i.prompt for i in load_suite(f"{path}?tags=y").expand()] == ["a red bus", "a blue car"]
    assert [i.prompt for i in load_suite(f"{path}?tags=y,z&level=1").expand()] == ["a red bus", "a green tree"]
    assert [i.item_id for i in load_suite(path).expand()] == [i.item_id for i in items]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\nrows: {file: nope.csv, prompt: text}\n", r"rows.file: cannot read .*nope.csv"),
        ("name: x\nrows: {file: p.csv, prompt: prompt}\n", r"rows.prompt: column 'prompt' is not in p.csv"),
        ("name: x\nrows: {file: p.csv, prompt: text, attributes: {a: nope}}\n", r"rows.attributes: column 'nope'"),
        ("name: x\nrows: {file: p.csv, prompt: text, seed: 3}\n", r"rows.seed: expected a string or null, got 3"),
        ("name: x\ntemplates: ['a {who}']\nslots: {who: [a]}\npair_over: whom\n", r"pair_over: 'whom' is not one"),
        ("name: x\ntemplates: ['a {who}']\nslots: {who: [a, a]}\n", r"slots.who: value 'a' appears twice"),
        ("name: x\ntemplates: ['a']\nscreening: {mode: warn}\n", r"screening.mode: expected one of 'block', 'record'"),
        ("name: x\ntemplates: ['a']\nseeds: 0\n", r"seeds must be at least 1"),
        (
            "name: x\ntemplates: ['a {who}']\nslots: {who: [a]}\nselect: {whom: [a]}\n",
            r"select: 'whom' is not an attribute",
        ),
    ],
)
def test_malformed_suite_extensions_fail_naming_the_file_and_key(tmp_path, text, expected):
    (tmp_path / "p.csv").write_text("text,seed\na cat,1\n")
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected) as info:
        load_suite(path)
    assert str(info.value).startswith(str(path))
