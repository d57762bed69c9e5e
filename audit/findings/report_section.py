"""A check's own part of the report: its section (title, how to read it, table, figure, JUnit lines), and the
builders the check modules share.

Each check type builds its section with ``report_section(check, result, labels, categories)``; the analysis writes
it into findings.json (``checks[i]["report"]``) and reports/ renders every section the same way, knowing nothing
of the check type: the table as given, the figure (a plotly figure ``{"data": [...], "layout": {...}}`` without
the report's shared styling, which reports/ adds, escaping every user-text string) and the JUnit lines in the
check's test case. A section of a check that judged nothing says so, and has no figure, with the reason.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from audit.core.records import Finding
from audit.findings.check_types import CHECK_TYPES
from audit.findings.judgement import CheckResult, format_number, plain_value

# Groups drawn in a section's dot-and-whisker figure (the largest values first); the table lists them all.
MAX_FIGURE_GROUPS = 40
# Groups named in the JUnit lines of a section (the largest judged values).
JUNIT_LARGEST = 3
STATUS_COLOURS = {"fail": "#E45756", "pass": "#54A24B", "not_judged": "#888888"}
NOTHING_JUDGED = "no group was judged, so there is nothing to draw"
# Scope entries that say which check and classifier a finding belongs to, not which group it is.
SCOPE_CONTEXT = ("attribute", "classifier", "between", "by", "label")


@dataclasses.dataclass(frozen=True)
class ReportSection:
    """One check's section of the report, as plain JSON values.

    ``figure`` is a plotly figure without the shared styling, or None with ``no_figure`` saying why; ``junit``
    the lines a CI reader sees in the check's test case; ``ranked`` (for example "Largest deviations") asks
    summary.md to list the check's largest judged values under that heading.
    """

    title: str
    text: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    figure: dict[str, Any] | None = None
    no_figure: str = ""
    junit: tuple[str, ...] = ()
    ranked: str | None = None

    def __post_init__(self) -> None:
        if self.figure is None and not self.no_figure:
            raise ValueError(f"report section {self.title!r}: no figure, and no reason why (no_figure)")
        widths = {len(row) for row in self.rows} - {len(self.columns)}
        if widths:
            raise ValueError(
                f"report section {self.title!r}: rows of {sorted(widths)} cells, {len(self.columns)} columns"
            )

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "text": self.text,
            "columns": list(self.columns),
            "rows": [[json_value(v) for v in row] for row in self.rows],
            "figure": json_value(self.figure),
            "no_figure": self.no_figure,
            "junit": list(self.junit),
            "ranked": self.ranked,
        }


def json_value(value: Any) -> Any:
    """``value`` as strict JSON: numpy scalars unwrapped, NaN and infinities as None, tuples as lists."""
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    value = plain_value(value)
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def group_label(scope: dict[str, Any], keys: Sequence[str] | None = None) -> str:
    """A finding's group in words ("occupation=nurse"), from its scope; "all images" for a check of one group."""
    names = list(keys) if keys is not None else [k for k in scope if k not in SCOPE_CONTEXT]
    return ", ".join(f"{k}={plain_value(scope[k])}" for k in names if k in scope) or "all images"


def judged(result: CheckResult) -> list[Finding]:
    """The findings of ``result`` with a verdict and a value, largest value first."""
    found = [f for f in result.findings if f.status != "not_judged" and f.value is not None]
    return sorted(found, key=lambda f: -_finite(f.value))


def not_judged_reason(finding: Finding) -> str:
    """Why a finding was not judged, without its group's name (or "" for a judged one)."""
    if finding.status != "not_judged":
        return ""
    for marker in ("not judged: ", "not applicable: "):
        if marker in finding.summary:
            return finding.summary.split(marker, 1)[1]
    return finding.summary


def nothing_judged_sentence(result: CheckResult) -> str:
    """What a section says when its check judged no group (empty when it judged one)."""
    if judged(result):
        return ""
    reasons = list(dict.fromkeys(not_judged_reason(f) for f in result.findings if not_judged_reason(f)))
    why = "; ".join(reasons[:3]) or result.summary.get("reason") or "no group could be judged"
    return f"This check judged nothing: {why}."


GROUP_COLUMNS = ("group", "classifier", "value", "95% interval", "limit", "status", "judged", "abstained", "note")


def group_rows(result: CheckResult, keys: Sequence[str] | None = None) -> list[tuple[Any, ...]]:
    """One row per finding (judged or not) in the order of :data:`GROUP_COLUMNS`: group, classifier, value, its 95%
    interval (as text; findings.json holds its ends), limit, status, judged and abstained images, and why a group
    was not judged."""
    rows = []
    for f in result.findings:
        rows.append(
            (
                group_label(f.scope, keys),
                f.scope.get("classifier"),
                f.value,
                "" if not f.ci else f"{format_number(f.ci[0])}–{format_number(f.ci[1])}",  # an infinite end: inf
                f.threshold,
                f.status,
                f.n_judged,
                f.n_abstained,
                not_judged_reason(f),
            )
        )
    return rows


def largest_lines(
    result: CheckResult, what: str, keys: Sequence[str] | None = None, count: int = JUNIT_LARGEST
) -> list[str]:
    """JUnit lines naming the ``count`` largest judged values of ``what`` (or saying nothing was judged)."""
    found = judged(result)
    if not found:
        return [nothing_judged_sentence(result)]
    lines = [f"largest {what} ({min(count, len(found))} of {len(found)} judged groups):"]
    for f in found[:count]:
        lines.append(
            f"  {group_label(f.scope, keys)} ({f.scope.get('classifier')}): {format_number(f.value)} "
            f"(95% CI {interval_text(f.ci)}) vs limit {format_number(f.threshold)}: {f.status.replace('_', ' ')}"
        )
    return lines


def interval_text(ci) -> str:
    """A 95% interval in words: "0.346-0.5", or "-2 to 3.94" where an end is negative."""
    if not ci:
        return "-"
    low, high = format_number(ci[0]), format_number(ci[1])
    return f"{low} to {high}" if low.startswith("-") or high.startswith("-") else f"{low}-{high}"


def interval_figure(
    result: CheckResult,
    *,
    title: str,
    value_title: str,
    keys: Sequence[str] | None = None,
    log: bool = False,
    no_effect: float | None = None,
) -> dict[str, Any] | None:
    """A dot-and-whisker figure of each judged group's value with its 95% interval (the largest first, coloured
    by status), the limit as a red dashed line and, where given, the value of no effect dotted; None when no
    group was judged."""
    found = [f for f in judged(result) if not (log and (f.value or 0) <= 0)]
    if not found:
        return None
    shown = found[:MAX_FIGURE_GROUPS][::-1]  # plotly draws the first category at the bottom
    several = len({f.scope.get("classifier") for f in shown}) > 1
    labels = [group_label(f.scope, keys) + (f" ({f.scope.get('classifier')})" if several else "") for f in shown]
    values = [_finite_or_none(f.value) for f in shown]
    highs = [_gap((f.ci or (None, None))[1], f.value) for f in shown]
    lows = [_gap(f.value, (f.ci or (None, None))[0]) for f in shown]
    limit = result.findings[0].threshold if result.findings else None
    shapes = []
    if no_effect is not None:
        shapes.append(_vertical(no_effect, {"dash": "dot", "color": "#888"}))
    if limit is not None:
        shapes.append(_vertical(limit, {"dash": "dash", "color": STATUS_COLOURS["fail"]}))
    if len(found) > len(shown):
        title += f" ({len(shown)} of {len(found)} judged groups, largest first)"
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "name": f"{value_title} (95% interval)",
                "x": values,
                "y": labels,
                "marker": {"size": 8, "color": [STATUS_COLOURS.get(f.status, "#888888") for f in shown]},
                "error_x": {"type": "data", "symmetric": False, "array": highs, "arrayminus": lows},
                "customdata": [f.status.replace("_", " ") for f in shown],
                "hovertemplate": "%{x:.3g} (%{customdata})<extra>%{y}</extra>",
            }
        ],
        "layout": {
            "title": {"text": title + " (red dashed: the limit)"},
            "height": min(140 + 26 * len(shown), 1600),
            "xaxis": {"title": {"text": value_title}, **({"type": "log"} if log else {})},
            "yaxis": {"automargin": True},
            "shapes": shapes,
            "showlegend": False,
        },
    }


def group_section(
    check: Any,
    result: CheckResult,
    *,
    title: str,
    text: str,
    value_title: str,
    keys: Sequence[str] | None = None,
    log: bool = False,
    no_effect: float | None = None,
    junit: Sequence[str] = (),
    ranked: str | None = None,
) -> ReportSection:
    """The section of a check judged per group: a table of every group (:data:`GROUP_COLUMNS`, the value column
    named ``value_title``), the dot-and-whisker figure of the judged ones, and JUnit lines (``junit`` first, then
    the largest judged values)."""
    figure = interval_figure(
        result,
        title=f"{check.id}: {value_title} per group",
        value_title=value_title,
        keys=keys,
        log=log,
        no_effect=no_effect,
    )
    nothing = nothing_judged_sentence(result)
    reading = (
        f"Each point is a judged group's {value_title} with its 95% interval (red: failed, green: passed); the red "
        f"dashed line is the limit, {format_number(check.max)}."
        if figure is not None
        else ""
    )
    return ReportSection(
        title=title,
        text=" ".join(part for part in (text, reading, nothing) if part),
        columns=("group", "classifier", value_title, *GROUP_COLUMNS[3:]),
        rows=tuple(group_rows(result, keys)),
        figure=figure,
        no_figure="" if figure is not None else (nothing or NOTHING_JUDGED),
        junit=(*junit, *largest_lines(result, value_title, keys)),
        ranked=ranked,
    )


def default_section(check: Any, result: CheckResult) -> ReportSection:
    """The section of a check type that builds none of its own: its groups' values against the limit."""
    measure = check.describe_measure()
    return group_section(
        check,
        result,
        title=f"{check.id}: {measure}",
        text=f"Each group's {measure} with its 95% interval, against the limit {format_number(check.max)}.",
        value_title=measure,
        keys=getattr(check, "by", None),
    )


def _vertical(x: float, line: dict[str, Any]) -> dict[str, Any]:
    return {"type": "line", "x0": x, "x1": x, "yref": "paper", "y0": 0, "y1": 1, "line": line}


def _finite(value: Any) -> float:
    value = float(value)
    return value if math.isfinite(value) else (math.inf if value > 0 else -math.inf)


def _finite_or_none(value: Any) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value)


def _gap(high: Any, low: Any) -> float | None:
    if high is None or low is None or not (math.isfinite(float(high)) and math.isfinite(float(low))):
        return None
    return max(float(high) - float(low), 0.0)


def check_section(check: Any, result: CheckResult, labels: Any, categories: Any) -> ReportSection:
    """The section of ``check`` (its type's ``report_section``, or :func:`default_section` for a type without one)
    for its result on ``labels`` (the per-image labels its check judged) and ``categories`` (each attribute's
    labels)."""
    build = getattr(CHECK_TYPES.get(check.check), "report_section", None)
    if build is None:
        return default_section(check, result)
    return build(check, result, labels, categories)
