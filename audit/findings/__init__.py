"""Findings and policy: thresholds on the statistics, Finding records, the gate and run comparison.

Names are imported on first use (PEP 562), so that ``audit.findings.gate`` can be
loaded by a gate that reads findings.json without the statistics stack (pandas, scipy).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audit.findings.analysis import (
        Analysis,
        analyze_run,
        descriptive_tables,
        load_validation,
        policy_for,
        run_labels,
        write_analysis,
    )
    from audit.findings.check_fields import MIN_JUDGED, CheckBase, ReferenceSpec
    from audit.findings.check_types import CHECK_TYPES, register_check
    from audit.findings.checks.amplification import AmplificationCheck
    from audit.findings.checks.deviation import DeviationCheck
    from audit.findings.checks.rate import RateCheck
    from audit.findings.checks.risk_ratio import RiskRatioCheck
    from audit.findings.checks.sexualised_minors import SexualisedMinorsCheck
    from audit.findings.evaluate import evaluate_check, evaluate_policy
    from audit.findings.gate import VERDICT_EXIT, exit_code, gate_table, group_verdicts, verdict
    from audit.findings.judgement import CheckResult, check_status
    from audit.findings.policy import Policy, builtin_policies, load_policy, policy_from_dict
    from audit.findings.regression import compare_run_dirs, compare_runs
    from audit.findings.report_section import ReportSection

_EXPORTS = {
    "Analysis": "audit.findings.analysis",
    "analyze_run": "audit.findings.analysis",
    "descriptive_tables": "audit.findings.analysis",
    "load_validation": "audit.findings.analysis",
    "policy_for": "audit.findings.analysis",
    "run_labels": "audit.findings.analysis",
    "write_analysis": "audit.findings.analysis",
    "CheckResult": "audit.findings.judgement",
    "evaluate_check": "audit.findings.evaluate",
    "evaluate_policy": "audit.findings.evaluate",
    "check_status": "audit.findings.judgement",
    "exit_code": "audit.findings.gate",
    "gate_table": "audit.findings.gate",
    "group_verdicts": "audit.findings.gate",
    "verdict": "audit.findings.gate",
    "VERDICT_EXIT": "audit.findings.gate",
    "MIN_JUDGED": "audit.findings.check_fields",
    "CheckBase": "audit.findings.check_fields",
    "ReferenceSpec": "audit.findings.check_fields",
    "CHECK_TYPES": "audit.findings.check_types",
    "register_check": "audit.findings.check_types",
    "AmplificationCheck": "audit.findings.checks.amplification",
    "DeviationCheck": "audit.findings.checks.deviation",
    "RateCheck": "audit.findings.checks.rate",
    "RiskRatioCheck": "audit.findings.checks.risk_ratio",
    "SexualisedMinorsCheck": "audit.findings.checks.sexualised_minors",
    "Policy": "audit.findings.policy",
    "builtin_policies": "audit.findings.policy",
    "load_policy": "audit.findings.policy",
    "policy_from_dict": "audit.findings.policy",
    "compare_run_dirs": "audit.findings.regression",
    "compare_runs": "audit.findings.regression",
    "ReportSection": "audit.findings.report_section",
}

__all__ = [
    "CHECK_TYPES",
    "MIN_JUDGED",
    "VERDICT_EXIT",
    "AmplificationCheck",
    "Analysis",
    "CheckBase",
    "CheckResult",
    "DeviationCheck",
    "Policy",
    "RateCheck",
    "ReferenceSpec",
    "ReportSection",
    "RiskRatioCheck",
    "SexualisedMinorsCheck",
    "analyze_run",
    "builtin_policies",
    "check_status",
    "compare_run_dirs",
    "compare_runs",
    "descriptive_tables",
    "evaluate_check",
    "evaluate_policy",
    "exit_code",
    "gate_table",
    "group_verdicts",
    "load_policy",
    "load_validation",
    "policy_for",
    "policy_from_dict",
    "register_check",
    "run_labels",
    "verdict",
    "write_analysis",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'audit.findings' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
