"""The check types by their policy name (``check: rate``), one registry as for generators and classifiers.

A check type is a class with ``type_name`` (the policy's ``check:`` value), ``policy_class`` (the frozen
dataclass a policy entry is parsed into; it says in ``describe_measure()`` what the check measures) and
``evaluate(check, labels, categories, *, seed, validation) -> CheckResult`` (the fixed-sample findings).
Built-in types live one per module in :mod:`audit.findings.checks`; another package adds one through the
entry-point group ``diffaudit.checks``:

    [project.entry-points."diffaudit.checks"]
    my-check = "my_package.checks:MyCheckType"

The built-in types are registered when :mod:`audit.findings.checks` is imported (:mod:`audit.findings.evaluate`
and :mod:`audit.findings` do); optional members a type may have: ``sequential_test`` (with
``describe_sequential`` and ``needed_columns``) or ``no_sequential_test``, ``minimum_detectable``,
``report_section(check, result, labels, categories) -> ReportSection`` (its part of the report: title, how to read
it, table, figure and JUnit lines, :mod:`audit.findings.report_section`; without it the report shows its groups'
values against the limit), and ``example`` with ``at_limit`` (the contract tests' planted images and labels at
the limit; docs/architecture.md, "A check").
"""

from __future__ import annotations

from audit.core.registry import Registry

CHECK_TYPES: Registry = Registry("check", entry_point_group="diffaudit.checks")


def register_check(cls: type) -> type:
    """Class decorator: make the check type ``cls`` available under ``cls.type_name``."""
    return CHECK_TYPES.register(cls)
