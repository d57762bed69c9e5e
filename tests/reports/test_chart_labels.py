"""Charts say what they show: legends name the scale, attributes with many labels charted as what matters."""

from __future__ import annotations

from reports.figures import MANY_LABELS, expected_label, report_figures

OCCUPATIONS = ["doctor", "nurse", "construction worker", "chef", "judge", "executive", "firefighter", "farmer"]


def _attribute(name: str, labels: list[str], rows: list[tuple[str, dict[str, float]]], by: str = "prompt") -> dict:
    return {
        "attribute": name,
        "classifier": "clip",
        "labels": labels,
        "abstention": None,
        "groupings": [
            {
                "by": by,
                "chart": True,
                "rows": [
                    {
                        "group": group,
                        "n": 20,
                        "n_unknown": 0,
                        "shares": {k: [v, max(0, v - 0.1), min(1, v + 0.1)] for k, v in shares.items()},
                    }
                    for group, shares in rows
                ],
            }
        ],
    }


def _figures(*attributes) -> dict:
    digest = {"attributes": list(attributes), "sections": [], "diversity": []}
    return report_figures(digest)


def _own_share(occupation: str, share: float) -> dict[str, float]:
    others = [o for o in OCCUPATIONS if o != occupation]
    return {occupation: share, **{o: (1 - share) / len(others) for o in others}}


def test_an_attribute_with_many_labels_is_charted_as_each_groups_share_of_its_own_label():
    rows = [(f"a photo of a {o}", _own_share(o, 0.9 - 0.1 * i)) for i, o in enumerate(OCCUPATIONS)]
    figure = _figures(_attribute("depicted_occupation", OCCUPATIONS, rows))["fig-share-0-0"]
    assert len(OCCUPATIONS) > MANY_LABELS
    (trace,) = figure["data"]  # one bar a group, not a bar (and a whisker) per label
    assert trace["y"][-1] == "a photo of a farmer" and trace["x"][-1] == 0.9 - 0.1 * 7  # lowest share on top
    assert trace["customdata"][-1] == "farmer" and trace["error_x"]["array"][-1] is not None
    assert "own label" in figure["layout"]["title"]["text"]


def test_without_an_expected_label_the_most_common_labels_are_stacked_and_the_rest_summed():
    rows = [(f"a landscape {i}", _own_share(OCCUPATIONS[i % 3], 0.5)) for i in range(6)]
    figure = _figures(_attribute("depicted_occupation", OCCUPATIONS, rows))["fig-share-0-0"]
    names = [t["name"] for t in figure["data"]]
    assert len(names) == 6 and names[:3] == ["doctor", "nurse", "construction worker"]
    assert names[-1] == f"the other {len(OCCUPATIONS) - 5} labels" and figure["layout"]["barmode"] == "stack"
    for i in range(6):  # each stacked bar adds up to the whole
        assert abs(sum(t["x"][i] for t in figure["data"]) - 1) < 1e-9


def test_the_legend_names_the_scale_and_numeric_levels_are_in_order():
    levels = ["5", "2", "9", "4"]
    rows = [(f"prompt {i}", {level: 0.25 for level in levels}) for i in range(3)]
    figures = _figures(
        _attribute("monk_skin_tone", levels, rows), _attribute("perceived_gender_presentation", ["a", "b"], rows[:2])
    )
    monk = figures["fig-share-0-0"]
    assert monk["layout"]["legend"]["title"]["text"].startswith("Monk skin tone level")
    assert [t["name"] for t in monk["data"]] == ["2", "4", "5", "9"]
    assert figures["fig-share-1-0"]["layout"]["legend"]["title"]["text"] == "perceived gender presentation"


def test_a_groups_expected_label_is_the_longest_label_it_names_as_whole_words():
    assert expected_label("a photo of a construction worker", ["worker", "construction worker"]) == (
        "construction worker"
    )
    assert expected_label("a photo of a chef", OCCUPATIONS) == "chef"
    assert expected_label("a judgement", ["judge"]) is None


def test_a_scale_of_many_levels_is_stacked_in_order_light_to_dark_with_the_monk_swatches():
    levels = [str(level) for level in (7, 1, 10, 3, 5, 2, 9, 4)]
    rows = [(f"prompt {i}", {level: 1 / len(levels) for level in levels}) for i in range(3)]
    figure = _figures(_attribute("monk_skin_tone", levels, rows))["fig-share-0-0"]
    assert [t["name"] for t in figure["data"]] == ["1", "2", "3", "4", "5", "7", "9", "10"]
    assert figure["layout"]["barmode"] == "stack" and figure["layout"]["legend"]["traceorder"] == "normal"
    assert figure["data"][0]["marker"]["color"] == "#f6ede4" and figure["data"][-1]["marker"]["color"] == "#292420"
    assert figure["layout"]["legend"]["title"]["text"].startswith("Monk skin tone level")
