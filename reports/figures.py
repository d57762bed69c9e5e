"""Plotly figures from the digest: share bars with whiskers, each check's own figure, diversity, abstention.

Pure functions from digest parts to figure dictionaries (``{"data": [...], "layout": {...}}``) that
plotly.js draws; the report inlines plotly.js once and these as JSON, so nothing is fetched.
"""

from __future__ import annotations

import re
from typing import Any

# Groups drawn per share chart; the table below the chart lists them all.
MAX_BARS = 30
_PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D", "#BAB0AC")
_FONT = {"family": "system-ui, sans-serif", "size": 12}
_LEGEND = {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom"}
_LEGEND_ROOM = 30  # pixels of the bottom margin (80) beyond the axis title's 50


def _groups(count: int | str) -> str:
    """The count of groups in words: 1 group, 20 groups, 30 of 40 groups."""
    return f"{count} group" if str(count) == "1" else f"{count} groups"


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    layout = {
        "title": {"text": title, "font": {"size": 14}},
        "font": _FONT,
        "margin": {"l": 60, "r": 20, "t": 40, "b": 80},
        # At the foot of the figure, in pixels: placed as a share of the plot (-0.15) it fell on the axis's
        # tick labels in a chart of one or two groups.
        "legend": _LEGEND,
        "autosize": True,
    }
    layout.update(extra)
    if "height" in layout:  # the room the legend takes at the foot, beyond the plot's own
        layout["height"] += _LEGEND_ROOM
    return layout


def share_bars(attribute: dict[str, Any], grouping: dict[str, Any]) -> dict[str, Any]:
    """Horizontal bars of each label's share per group, with interval whiskers, most deviating groups on top."""
    rows = grouping["rows"][:MAX_BARS]
    groups = [_text(r["group"]) for r in rows][::-1]  # plotly draws the first category at the bottom
    traces = []
    for i, label in enumerate(attribute["labels"]):
        shares = [r["shares"].get(label, [None, None, None]) for r in rows][::-1]
        traces.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": _text(label),
                "y": groups,
                "x": [s[0] for s in shares],
                "marker": {"color": _PALETTE[i % len(_PALETTE)]},
                "error_x": {
                    "type": "data",
                    "symmetric": False,
                    "array": [_gap(s[2], s[0]) for s in shares],
                    "arrayminus": [_gap(s[0], s[1]) for s in shares],
                    "thickness": 1,
                    "width": 2,
                },
                "hovertemplate": f"{_plain_text(label)}: %{{x:.3f}}<extra>%{{y}}</extra>",
            }
        )
    shown = f"{len(rows)} of {len(grouping['rows'])}" if len(grouping["rows"]) > len(rows) else str(len(rows))
    title = _text(f"{attribute['attribute']} by {grouping['by']} ({_groups(shown)}, most deviating first)")
    height = 120 + 22 * len(rows) * max(1, len(attribute["labels"]) // 2)
    return {
        "data": traces,
        "layout": _layout(
            title,
            barmode="group",
            height=min(height, 1600),
            xaxis={"title": {"text": "share of labelled images (95% interval)"}, "range": [0, 1]},
            yaxis={"automargin": True},
        ),
    }


# Attributes with more labels than this are charted as what matters (see many_label_bars), not a bar per label.
MANY_LABELS = 6
# Labels drawn by name when an attribute with many labels has no expected label per group; the rest are summed.
TOP_LABELS = 5
# What the labels of an attribute are, for the legend's title (the attribute's name with spaces otherwise).
SCALES = {
    "monk_skin_tone": "Monk skin tone level (1 lightest, 10 darkest)",
    "monk_group": "Monk skin tone group",
    "ita_category": "ITA skin tone category",
}


# The published Monk Skin Tone swatches (Monk 2023, skintone.google), for the bars of each level.
SWATCHES = {
    "monk_skin_tone": {
        "1": "#f6ede4",
        "2": "#f3e7db",
        "3": "#f7ead0",
        "4": "#eadaba",
        "5": "#d7bd96",
        "6": "#a07e56",
        "7": "#825c43",
        "8": "#604134",
        "9": "#3a312a",
        "10": "#292420",
    }
}


def scale_name(attribute: str) -> str:
    """What an attribute's labels are, in words: the legend's title."""
    return SCALES.get(attribute, attribute.replace("_", " "))


def expected_label(group: str, labels: list[str]) -> str | None:
    """The label a group names (an occupation's own label, "nurse" for "a photo of a nurse"): the longest label
    that appears in the group's text as whole words; None when none does."""
    text = str(group).lower()
    found = [label for label in labels if re.search(rf"\b{re.escape(str(label).lower())}\b", text)]
    return max(found, key=len) if found else None


def many_label_bars(attribute: dict[str, Any], grouping: dict[str, Any]) -> dict[str, Any]:
    """An attribute with many labels, charted as what matters: where most groups name one of its labels (an
    occupation prompt and the depicted occupation), each group's share of its own label with its interval,
    lowest first; otherwise the most common labels stacked, the rest summed."""
    labels = [label for label in attribute["labels"] if label != "unknown"]
    rows = grouping["rows"]
    if all(str(label).isdigit() for label in labels):
        return _level_bars(attribute, grouping, sorted(labels, key=int))
    expected = {r["group"]: expected_label(r["group"], labels) for r in rows}
    if sum(v is not None for v in expected.values()) * 2 >= len(rows):
        return _expected_share_bars(attribute, grouping, expected)
    totals = {label: sum((r["shares"].get(label) or [0])[0] or 0 for r in rows) for label in labels}
    top = sorted(labels, key=lambda label: -totals[label])[:TOP_LABELS]
    shown = rows[:MAX_BARS]
    groups = [_text(r["group"]) for r in shown][::-1]
    traces = [
        {
            "type": "bar",
            "orientation": "h",
            "name": _text(label),
            "y": groups,
            "x": [(r["shares"].get(label) or [None])[0] for r in shown][::-1],
            "marker": {"color": _PALETTE[i % len(_PALETTE)]},
            "hovertemplate": f"{_plain_text(label)}: %{{x:.3f}}<extra>%{{y}}</extra>",
        }
        for i, label in enumerate(top)
    ]
    traces.append(
        {
            "type": "bar",
            "orientation": "h",
            "name": f"the other {len(labels) - len(top)} labels",
            "y": groups,
            "x": [max(0.0, 1 - sum((r["shares"].get(label) or [0])[0] or 0 for label in top)) for r in shown][::-1],
            "marker": {"color": "#ccc"},
            "hovertemplate": "other labels: %{x:.3f}<extra>%{y}</extra>",
        }
    )
    title = _text(
        f"{attribute['attribute']} by {grouping['by']}: its {len(top)} most common of {len(labels)} labels "
        f"({_groups(len(shown))}; intervals in the table)"
    )
    return _stacked(traces, title, len(shown), attribute["attribute"])


def _level_bars(attribute: dict[str, Any], grouping: dict[str, Any], levels: list[str]) -> dict[str, Any]:
    """A scale of numbered levels (Monk 1-10): each group's distribution over the levels, stacked in order and
    coloured light to dark (the Monk swatches for Monk levels), with every interval in the table."""
    shown = grouping["rows"][:MAX_BARS]
    groups = [_text(r["group"]) for r in shown][::-1]
    colours = SWATCHES.get(attribute["attribute"], {})
    traces = [
        {
            "type": "bar",
            "orientation": "h",
            "name": _text(level),
            "y": groups,
            "x": [(r["shares"].get(level) or [0.0])[0] for r in shown][::-1],
            "marker": {
                "color": colours.get(level, _ramp(i, len(levels))),
                "line": {"color": "#888", "width": 0.5},
            },
            "hovertemplate": f"level {_plain_text(level)}: %{{x:.3f}}<extra>%{{y}}</extra>",
        }
        for i, level in enumerate(levels)
    ]
    title = _text(
        f"{attribute['attribute']} by {grouping['by']}: share at each level ({_groups(len(shown))}; intervals in the "
        "table)"
    )
    return _stacked(traces, title, len(shown), attribute["attribute"])


def _stacked(traces: list[dict[str, Any]], title: str, groups: int, attribute: str) -> dict[str, Any]:
    """Stacked horizontal share bars, one a group, the legend in the traces' order and titled with the scale."""
    legend = {**_LEGEND, "traceorder": "normal", "title": {"text": scale_name(attribute)}}
    return {
        "data": traces,
        "layout": _layout(
            title,
            barmode="stack",
            height=min(120 + 22 * groups, 1600),
            xaxis={"title": {"text": "share of labelled images"}, "range": [0, 1]},
            yaxis={"automargin": True},
            legend=legend,
        ),
    }


def _ramp(i: int, n: int) -> str:
    """A light-to-dark blue for level i of n."""
    t = i / max(n - 1, 1)
    r, g, b = (int(round(a + (z - a) * t)) for a, z in ((222, 8), (235, 48), (247, 107)))
    return f"#{r:02x}{g:02x}{b:02x}"


def _expected_share_bars(attribute: dict[str, Any], grouping: dict[str, Any], expected: dict) -> dict[str, Any]:
    """Each group's share of the label it names, with its interval, lowest first."""
    rows = [r for r in grouping["rows"] if expected[r["group"]] is not None]
    rows.sort(key=lambda r: (r["shares"].get(expected[r["group"]]) or [0.0])[0] or 0.0)
    shown = rows[:MAX_BARS]
    shares = [r["shares"].get(expected[r["group"]]) or [0.0, 0.0, 0.0] for r in shown][::-1]
    left = len(grouping["rows"]) - len(rows)
    title = _text(
        f"{attribute['attribute']} by {grouping['by']}: share of each group's images showing its own label "
        f"({len(shown)} of {len(grouping['rows'])} groups, lowest first"
        + (f"; {left} name no label" if left else "")
        + ")"
    )
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "name": "share with the group's own label (95% interval)",
                "y": [_text(r["group"]) for r in shown][::-1],
                "x": [s[0] for s in shares],
                "customdata": [_text(expected[r["group"]]) for r in shown][::-1],
                "marker": {"color": _PALETTE[0]},
                "error_x": {
                    "type": "data",
                    "symmetric": False,
                    "array": [_gap(s[2], s[0]) for s in shares],
                    "arrayminus": [_gap(s[0], s[1]) for s in shares],
                    "thickness": 1,
                    "width": 2,
                },
                "hovertemplate": "%{customdata}: %{x:.3f}<extra>%{y}</extra>",
            }
        ],
        "layout": _layout(
            title,
            height=min(120 + 22 * len(shown), 1600),
            xaxis={
                "title": {"text": f"share labelled as the group's own {scale_name(attribute['attribute'])}"},
                "range": [0, 1],
            },
            yaxis={"automargin": True},
            showlegend=False,
        ),
    }


def _scale_legend(figure: dict[str, Any], attribute: str) -> dict[str, Any]:
    """The legend titled with what the labels are (a bare "2 4 5" says nothing), numeric labels in order."""
    if all(str(t.get("name", "")).isdigit() for t in figure["data"]):
        figure["data"].sort(key=lambda t: int(t["name"]))
    figure["layout"]["legend"] = {**figure["layout"]["legend"], "title": {"text": scale_name(attribute)}}
    return figure


def _gap(high: Any, low: Any) -> float | None:
    if high is None or low is None:
        return None
    return max(float(high) - float(low), 0.0)


def _text(value: Any) -> str:
    """User text as plotly.js shows it literally: it reads a subset of HTML (links, bold) in labels,
    so markup is written as entities and shows as text."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain_text(text: str) -> str:
    """Text for inside a plotly hover template: braces and percent signs would be read as its syntax."""
    return _text(text).replace("%", "%%").replace("{", "(").replace("}", ")")


# Trace fields that may hold user text, and layout parts with a title: escaped in a check's figure.
_TRACE_TEXT = ("name", "text", "hovertext", "x", "y", "customdata", "labels", "legendgrouptitle")
_AXES = ("xaxis", "yaxis", "xaxis2", "yaxis2")


def _escaped(value: Any) -> Any:
    """Every string inside ``value`` (lists and mappings walked) as plotly.js shows it literally."""
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    return value


def _title_text(title: Any) -> str | None:
    if isinstance(title, dict):
        return None if title.get("text") is None else str(title["text"])
    return None if title is None else str(title)


def section_figure(section: dict[str, Any]) -> dict[str, Any]:
    """A check's figure (its section in the digest) with the report's styling; every user-text string in it —
    trace names, texts, category values, titles, annotations — escaped (hover templates are the check's own)."""
    figure = section["figure"]
    traces = []
    for trace in figure.get("data") or []:
        trace = dict(trace)
        for key in _TRACE_TEXT:
            if key in trace:
                trace[key] = _escaped(trace[key])
        traces.append(trace)
    extra = dict(figure.get("layout") or {})
    title = _title_text(extra.pop("title", None)) or f"{section['id']}: {section['title']}"
    for axis in _AXES:
        if isinstance(extra.get(axis), dict) and "title" in extra[axis]:
            extra[axis] = {**extra[axis], "title": {"text": _text(_title_text(extra[axis]["title"]) or "")}}
    if isinstance(extra.get("legend"), dict):
        extra["legend"] = {**_LEGEND, **_escaped(extra["legend"])}
    if "annotations" in extra:
        extra["annotations"] = [{**a, "text": _text(a.get("text", ""))} for a in extra["annotations"]]
    for key in ("font", "margin", "autosize"):  # the report's styling, the same for every figure
        extra.pop(key, None)
    extra.setdefault("height", 460)
    return {"data": traces, "layout": _layout(_text(title), **extra)}


def diversity(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per prompt, the effective number of distinct images (Vendi score) of each classifier's embeddings."""
    ordered = sorted(rows, key=lambda r: (r.get("vendi") is None, r.get("vendi") or 0.0))[:MAX_BARS]
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "name": "Vendi score",
                "y": [_text(r["prompt"]) for r in ordered][::-1],
                "x": [r.get("vendi") for r in ordered][::-1],
                "marker": {"color": _PALETTE[2]},
                "customdata": [r.get("n") for r in ordered][::-1],
                "hovertemplate": "%{x:.2f} distinct of %{customdata} images<extra>%{y}</extra>",
            }
        ],
        "layout": _layout(
            f"diversity per prompt: effective number of distinct images (least diverse {len(ordered)} first)",
            height=min(140 + 22 * len(ordered), 1200),
            xaxis={"title": {"text": "Vendi score (1 = all alike)"}},
            yaxis={"automargin": True},
        ),
    }


def abstention(attributes: list[dict[str, Any]]) -> dict[str, Any]:
    """The share of images each classifier abstained on ("unknown"), per attribute."""
    rows = [a for a in attributes if a.get("abstention") and a["abstention"]["rate"] is not None]
    names = [_text(f"{a['classifier']} / {a['attribute']}") for a in rows]
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "name": "abstained",
                "y": names,
                "x": [a["abstention"]["rate"] for a in rows],
                "customdata": [[a["abstention"]["unknown"], a["abstention"]["n"]] for a in rows],
                "marker": {"color": _PALETTE[3]},
                "hovertemplate": "%{customdata[0]} of %{customdata[1]} images (%{x:.1%})<extra>%{y}</extra>",
            }
        ],
        "layout": _layout(
            "abstention: images each classifier labelled 'unknown'",
            height=140 + 26 * len(rows),
            xaxis={"title": {"text": "share of images"}, "range": [0, 1], "tickformat": ".0%"},
            yaxis={"automargin": True},
        ),
    }


def mitigation_changes(comparison: dict[str, Any]) -> dict[str, Any]:
    """Each group's change of its check's metric, mitigated minus baseline, with its paired interval."""
    changes = [c for c in comparison["changes"] if c.get("change") is not None][:MAX_BARS]
    labels = [_text(f"{c['check']}: {', '.join(f'{k}={v}' for k, v in c['group'].items()) or 'all'}") for c in changes][
        ::-1
    ]
    values = [c["change"] for c in changes][::-1]
    colours = {"improved": _PALETTE[2], "worse": _PALETTE[3]}
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "name": "change (95% interval)",
                "x": values,
                "y": labels,
                "marker": {"size": 8, "color": [colours.get(c["direction"], "#888") for c in changes][::-1]},
                "error_x": {
                    "type": "data",
                    "symmetric": False,
                    "array": [_gap(c["change_high"], c["change"]) for c in changes][::-1],
                    "arrayminus": [_gap(c["change"], c["change_low"]) for c in changes][::-1],
                },
                "customdata": [_text(c["direction"]) for c in changes][::-1],
                "hovertemplate": "%{x:+.3f} (%{customdata})<extra>%{y}</extra>",
            }
        ],
        "layout": _layout(
            "change with the mitigation, pair by pair (green: improved; red: worse; grey: no significant change)",
            height=min(140 + 26 * len(labels), 1600),
            xaxis={"title": {"text": "mitigated minus baseline (each check's metric)"}, "zeroline": True},
            yaxis={"automargin": True},
        ),
    }


# Groups drawn per confidence-sequence chart: those that ran longest; the table lists them all.
MAX_SEQUENCES = 24


def confidence_sequences(check: str, traces: list[dict[str, Any]]) -> dict[str, Any]:
    """A sequential check's 95% confidence sequences over images, one band per group, with the limit."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in traces:
        if row["check"] == check:
            groups.setdefault(f"{row['group']} ({row['classifier']})", []).append(row)
    longest = sorted(groups.items(), key=lambda kv: -max(r["images"] for r in kv[1]))[:MAX_SEQUENCES]
    data: list[dict[str, Any]] = []
    for i, (name, rows) in enumerate(sorted(longest)):
        rows = sorted(rows, key=lambda r: r["round"])
        colour = _PALETTE[i % len(_PALETTE)]
        xs = [r["images"] for r in rows]
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": _text(name),
                "legendgroup": str(i),
                "x": xs + xs[::-1],
                "y": [r["cs_high"] for r in rows] + [r["cs_low"] for r in rows][::-1],
                "fill": "toself",
                "opacity": 0.35,
                "line": {"color": colour},
                "hovertemplate": "%{y:.3f} after %{x} images<extra>" + _text(name) + "</extra>",
            }
        )
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": _text(name) + " estimate",
                "legendgroup": str(i),
                "showlegend": False,
                "x": xs,
                "y": [r["estimate"] for r in rows],
                "line": {"color": colour, "dash": "dot"},
            }
        )
    limit = traces[0]["limit"] if traces else None
    shapes = (
        []
        if limit is None
        else [
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": limit,
                "y1": limit,
                "line": {"dash": "dash", "color": "#E45756"},
            }
        ]
    )
    return {
        "data": data,
        "layout": _layout(
            _text(f"{check}: 95% confidence sequence of each group over its images (dashed: the limit)"),
            height=460,
            shapes=shapes,
            xaxis={"title": {"text": "images"}},
            yaxis={"title": {"text": "metric"}, "rangemode": "tozero"},
        ),
    }


def report_figures(digest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every figure the report shows, keyed by the id of the element it is drawn into."""
    figures: dict[str, dict[str, Any]] = {}
    for i, attribute in enumerate(digest["attributes"]):
        for j, grouping in enumerate(attribute["groupings"]):
            if grouping["chart"] and len(attribute["labels"]) > MANY_LABELS:
                figures[f"fig-share-{i}-{j}"] = many_label_bars(attribute, grouping)
            elif grouping["chart"]:
                figures[f"fig-share-{i}-{j}"] = _scale_legend(share_bars(attribute, grouping), attribute["attribute"])
    for i, section in enumerate(digest.get("sections") or []):
        if section.get("figure"):
            figures[f"fig-section-{i}"] = section_figure(section)
    if digest.get("comparison") and digest["comparison"]["changes"]:
        figures["fig-mitigation"] = mitigation_changes(digest["comparison"])
    if digest["diversity"]:
        figures["fig-diversity"] = diversity(digest["diversity"])
    if any(a.get("abstention") for a in digest["attributes"]):
        figures["fig-abstention"] = abstention(digest["attributes"])
    sequential = digest.get("sequential") or {}
    for i, check in enumerate(sequential_checks(digest)):
        traces = [t for t in sequential.get("traces", []) if t["check"] == check]
        if traces:
            figures[f"fig-sequential-{i}"] = confidence_sequences(check, traces)
    return figures


def sequential_checks(digest: dict[str, Any]) -> list[str]:
    """The checks of a sequential run's groups, in the order they first appear."""
    seen: dict[str, None] = {}
    for group in (digest.get("sequential") or {}).get("groups", []):
        seen.setdefault(group["check"], None)
    return list(seen)
