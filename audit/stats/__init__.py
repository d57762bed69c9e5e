"""Statistics of an audit: pure functions from tidy score tables to tidy result tables.

Every estimate comes with its interval and test; thresholds live in
``audit.findings``, not here. The starting point is :func:`image_labels`,
which joins scores.parquet to the generations and probes of a run.
"""

from audit.stats.amplification import amplification, amplification_rows
from audit.stats.comparison import two_sample_test
from audit.stats.confusion import confusion_summary
from audit.stats.correction import (
    corrected_distributions,
    corrected_intervals,
    corrected_shares,
    project_to_simplex,
    rogan_gladen,
)
from audit.stats.deviation import (
    METRICS,
    bootstrap_intervals,
    deviation_rows,
    deviations,
    goodness_of_fit,
    heim_deviation,
    kl_divergence,
    max_gap,
    mean_absolute_deviation,
    normalised_entropy,
    tv_distance,
)
from audit.stats.distributions import GroupCounts, distributions, group_counts
from audit.stats.diversity import embedding_diversity, mean_pairwise_cosine_distance, vendi_score
from audit.stats.image_labels import image_labels, label_sets, probe_table, top_labels
from audit.stats.intervals import goodman_intervals, share_intervals, wilson_interval
from audit.stats.multiple_testing import benjamini_hochberg
from audit.stats.paired import mcnemar_exact, paired_comparison, unpaired_comparison
from audit.stats.planning import detection_power, images_needed, plan
from audit.stats.reference import Reference

__all__ = [
    "METRICS",
    "GroupCounts",
    "Reference",
    "amplification",
    "amplification_rows",
    "benjamini_hochberg",
    "bootstrap_intervals",
    "confusion_summary",
    "corrected_distributions",
    "corrected_intervals",
    "corrected_shares",
    "detection_power",
    "deviation_rows",
    "deviations",
    "distributions",
    "embedding_diversity",
    "goodman_intervals",
    "goodness_of_fit",
    "group_counts",
    "heim_deviation",
    "image_labels",
    "images_needed",
    "kl_divergence",
    "label_sets",
    "max_gap",
    "mcnemar_exact",
    "mean_absolute_deviation",
    "mean_pairwise_cosine_distance",
    "normalised_entropy",
    "paired_comparison",
    "plan",
    "probe_table",
    "project_to_simplex",
    "rogan_gladen",
    "share_intervals",
    "top_labels",
    "tv_distance",
    "two_sample_test",
    "unpaired_comparison",
    "vendi_score",
    "wilson_interval",
]
