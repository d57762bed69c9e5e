"""Findings and policy: thresholds on the statistics, Finding records, the gate and run comparison."""

from audit.findings.analysis import (
    Analysis,
    analyze_run,
    descriptive_tables,
    load_validation,
    policy_for,
    run_labels,
    write_analysis,
)
from audit.findings.evaluate import CheckResult, evaluate_check, evaluate_policy
from audit.findings.gate import exit_code, gate_table, group_verdicts
from audit.findings.policy import (
    CHECKS,
    AmplificationCheck,
    DeviationCheck,
    Policy,
    RateCheck,
    ReferenceSpec,
    RiskRatioCheck,
    builtin_policies,
    load_policy,
    policy_from_dict,
)
from audit.findings.regression import compare_run_dirs, compare_runs

__all__ = [
    "CHECKS",
    "AmplificationCheck",
    "Analysis",
    "CheckResult",
    "DeviationCheck",
    "Policy",
    "RateCheck",
    "ReferenceSpec",
    "RiskRatioCheck",
    "analyze_run",
    "builtin_policies",
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
    "run_labels",
    "write_analysis",
]
