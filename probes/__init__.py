"""Prompt suites (YAML data) expanded into ProbeItems; knows no models."""

from probes.suite import SlotValue, Suite, builtin_suites, load_suite, resolve_seeds

__all__ = ["SlotValue", "Suite", "builtin_suites", "load_suite", "resolve_seeds"]
