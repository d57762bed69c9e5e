"""summary.md: the verdict in a few lines for a pull-request comment — checks, failing groups, each ranked check's
largest values (largest deviations).

Plain Markdown with no links: every piece of user text (prompts, labels,
check ids, policy names) is escaped so it cannot add markup, a link or an
image to the comment.
"""

from __future__ import annotations

import re
from typing import Any

# Failing groups and deviations listed; the rest are counted.
MAX_FAILING = 10
MAX_DEVIATIONS = 5
_STATUS = {
    "pass": "PASS",
    "fail": "FAIL",
    "warn": "WARN",
    "not_judged": "NOT JUDGED",
    "not_applicable": "N/A",
    "not_analysed": "NOT ANALYSED",
}
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")


def escape_markdown(text: Any) -> str:
    """User text as literal Markdown: punctuation backslash-escaped, no line breaks, no autolinks."""
    text = " ".join(str(text).split()).replace("&", "&amp;")
    text = _SPECIAL.sub(r"\\\1", text)
    # GitHub turns "https://..." and "www." into links even when escaped; break the pattern with an entity.
    return text.replace(":", "&#58;").replace("@", "&#64;")


def _fmt(value: Any, spec: str = ".3g") -> str:
    return "–" if value is None else format(float(value), spec)


def _interval(ci: Any) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return "–"
    return f"{_fmt(ci[0])}–{_fmt(ci[1])}"


def _scope(scope: dict[str, Any]) -> str:
    shown = {k: v for k, v in scope.items() if k not in ("attribute", "classifier")}
    return ", ".join(f"{escape_markdown(k)}={escape_markdown(v)}" for k, v in sorted(shown.items())) or "all"


def _mde(check: dict[str, Any]) -> str:
    found = check.get("detectable")
    if not found:
        return "–"
    return "none" if found.get("mde") is None else _fmt(found["mde"])


def _underpowered(verdict: dict[str, Any]) -> list[str]:
    """A line per check that passed underpowered: what it could have missed, and the seeds that would not."""
    weak = [c for c in verdict["checks"] if c.get("underpowered") and c.get("detectable")]
    if not weak:
        return []
    power = verdict.get("policy_options", {}).get("power", 0.8)
    fails = verdict.get("policy_options", {}).get("underpowered") == "fail"
    lines = [
        "",
        f"**Underpowered passes** (detectable: the smallest value the weakest group would be failed at with "
        f"{power:.0%} power){'; the policy fails the gate on them' if fails else ''}:",
        "",
    ]
    for c in weak:
        found = c["detectable"]
        fix = found.get("fix") or "more images"
        seeds = f"{found['seeds_needed']} seeds per prompt, " if found.get("seeds_needed") else ""
        if found.get("seeds_needed") and found.get("prompts_per_group", 1) > 1:
            seeds = (
                f"{found['seeds_needed']} seeds per prompt of its {found['prompts_per_group']}, planned per prompt by "
            )
        lines.append(
            f"- {escape_markdown(c['id'])}: with {found['weakest_n']} judged images in the weakest of "
            f"{found['groups']} group(s), a group at {_fmt(found.get('reach'))} could pass (detectable from "
            f"{_fmt(found.get('mde'))}); fix: {seeds}{escape_markdown(fix)}"
        )
    return lines


def render_markdown(digest: dict[str, Any]) -> str:
    """The summary for a pull request, from the digest alone."""
    v = digest["verdict"]
    counts = digest["counts"]
    lines = [f"## diffaudit: {_STATUS[v['status']]} — {escape_markdown(digest['name'])}", ""]
    if v["status"] == "not_analysed":
        lines.append("This run has not been analysed yet: no verdict.")
    else:
        by_status = v["counts_by_status"]
        lines.append(
            f"Policy {escape_markdown(v['policy'])}: {by_status['fail']} failing, "
            + (f"{by_status['warn']} warning, " if by_status.get("warn") else "")
            + f"{by_status['pass']} passing and {by_status['not_judged']} not judged groups, over "
            f"{counts['images_ok']} images of {counts['prompts']} prompt{'' if counts['prompts'] == 1 else 's'}."
        )
        if v["status"] == "not_judged":
            lines.append("Nothing could be judged, so this is not a pass.")
        lines += [
            "",
            "| status | check | failed / passed / not judged | worst | 95% interval | limit | detectable (MDE) |",
            "|---|---|---|---|---|---|---|",
        ]
        for c in v["checks"]:
            worst = c.get("worst") or {}
            status = _STATUS[c["status"]] + (" (underpowered)" if c.get("underpowered") else "")
            lines.append(
                f"| {status} | {escape_markdown(c['id'])} | "
                f"{c['groups']['failed']} / {c['groups']['passed']} / {c['groups']['not_judged']} | "
                f"{_fmt(worst.get('value'))} | {_interval(worst.get('ci'))} | {_fmt(c['limit'])} | {_mde(c)} |"
            )
        lines += _underpowered(v)
        failing = v["failing"][:MAX_FAILING]
        if failing:
            lines += ["", f"**Failing groups** ({by_status['fail']}; the largest {len(failing)}):", ""]
            lines += [_group_line(f) for f in failing]
        warnings = (v.get("warnings") or [])[:MAX_FAILING]
        if warnings:
            lines += ["", f"**Warnings** ({by_status.get('warn', len(warnings))}; they do not fail the run):", ""]
            lines += [_group_line(f) for f in warnings]
    lines += _corrected_lines(digest)
    comparison = digest.get("comparison")
    if comparison:
        verdicts = comparison["counts"]
        described = escape_markdown(comparison.get("described") or "as configured")
        baseline = escape_markdown(comparison.get("baseline_name") or "the baseline")
        lines += [
            "",
            f"**Mitigation** ({described}), compared pair by pair with {baseline}: {verdicts['improved']} improved, "
            f"{verdicts['worse']} worse, {verdicts['no significant change']} without a significant change, "
            f"{verdicts['not judged']} not judged.",
            "",
            "| check | group | baseline | mitigated | change (95% interval) | verdict |",
            "|---|---|---|---|---|---|",
        ]
        for c in comparison["changes"][:MAX_FAILING]:
            lines.append(
                f"| {escape_markdown(c['check'])} | {_scope(c['group'])} | {_fmt(c.get('baseline'))} | "
                f"{_fmt(c.get('mitigated'))} | {_fmt(c.get('change'), '+.3f')} "
                f"({_fmt(c.get('change_low'), '+.3f')} to {_fmt(c.get('change_high'), '+.3f')}) | {c['direction']} |"
            )
    for d in digest.get("rebalanced") or []:
        achieved = "; ".join(
            f"{escape_markdown(label)} {_fmt(a.get('share'), '.2f')} ({_interval(a.get('ci'))}), "
            f"{a.get('count')} images"
            for label, a in d["achieved"].items()
        )
        lines += [
            "",
            f"**Rebalanced dataset** `{escape_markdown(str(d['dataset']))}` on {escape_markdown(d['attribute'])} "
            f"({escape_markdown(d['classifier'])}): {achieved}; TV from the target {_fmt(d.get('tv'))}. "
            "Labels are perceived, not true: see its datasheet.",
        ]
    for heading, kinds, ranked in _ranked(digest):
        kinds_text = ", ".join(escape_markdown(k) for k in kinds)
        lines += ["", f"**{escape_markdown(heading)}** ({kinds_text} checks, judged groups):", ""]
        lines += ["| status | check | group | value | 95% interval | limit |", "|---|---|---|---|---|---|"]
        for f in ranked:
            lines.append(
                f"| {_STATUS[f['status']]} | {escape_markdown(f['check'])} | {_scope(f.get('scope', {}))} | "
                f"{_fmt(f.get('value'))} | {_interval(f.get('ci'))} | {_fmt(f.get('threshold'))} |"
            )
    if counts["images_failed"]:
        lines += ["", f"{counts['images_failed']} image(s) failed to generate and are not counted."]
    lines += ["", "Labels are perceived attributes estimated by classifiers, not identities; see report.html."]
    return "\n".join(lines) + "\n"


def _group_line(f: dict[str, Any]) -> str:
    return (
        f"- {escape_markdown(f['check'])} · {_scope(f.get('scope', {}))}: {_fmt(f.get('value'))} "
        f"(95% interval {_interval(f.get('ci'))}; limit {_fmt(f.get('threshold'))})"
    )


def _corrected_lines(digest: dict[str, Any]) -> list[str]:
    """Raw and corrected shares of each attribute a validation corrected, per prompt (at most MAX_FAILING)."""
    lines: list[str] = []
    for a in digest.get("attributes") or []:
        c = a.get("corrected")
        if not c:
            continue
        head = f"**{escape_markdown(a['attribute'])}** corrected for classifier error"
        if c.get("validated_on"):
            head += f" ({escape_markdown(c['validated_on'])})"
        lines += ["", head + ":", ""]
        if c.get("reason"):
            lines.append(f"Not corrected: {escape_markdown(c['reason'])}")
            continue
        labels = c["labels"]
        lines += [
            "| prompt | "
            + " | ".join(f"{escape_markdown(lab)} raw → corrected (95% interval)" for lab in labels)
            + " |",
            "|---|" + "---|" * len(labels),
        ]
        for row in c["rows"][:MAX_FAILING]:
            cells = []
            for label in labels:
                est = row["corrected"].get(label) or [None, None, None]
                cells.append(f"{_fmt(row['raw'].get(label), '.2f')} → {_fmt(est[0], '.2f')} ({_interval(est[1:])})")
            lines.append(f"| {escape_markdown(row['group']) or '(empty)'} | " + " | ".join(cells) + " |")
    return lines


def _ranked(digest: dict[str, Any]) -> list[tuple[str, list[str], list[dict[str, Any]]]]:
    """Per heading a check's section asks for (``ranked``, e.g. "Largest deviations"): the check types under it and
    the judged groups of those checks with the largest values, each with its status."""
    from reports.digest import finding_status

    headings: dict[str, dict[str, None]] = {}
    checks_of: dict[str, set[str]] = {}
    for section in digest.get("sections") or []:
        if section.get("ranked"):
            headings.setdefault(section["ranked"], {})[str(section.get("check") or section["id"])] = None
            checks_of.setdefault(section["ranked"], set()).add(section["id"])
    out = []
    for heading, kinds in headings.items():
        rows = [
            {**f, "status": finding_status(f)}
            for f in digest["findings"]
            if f["check"] in checks_of[heading] and f.get("value") is not None and finding_status(f) != "not_judged"
        ]
        rows.sort(key=lambda f: -f["value"])
        if rows:
            out.append((heading, list(kinds), rows[:MAX_DEVIATIONS]))
    return out
