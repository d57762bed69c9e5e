"""Statistics of an audit: pure functions from tidy score tables to tidy result tables.

Every estimate comes with its interval and test; thresholds live in
``audit.findings`` and reach these functions only as arguments (the limit a
test is against). The starting point is :func:`image_labels`, which joins
scores.parquet to the generations and probes of a run.
"""

from audit.stats.abstention import distance_range, share_range
from audit.stats.agreement import annotator_agreement, cohen_kappa, fleiss_kappa
from audit.stats.amplification import REFERENCE_FLOOR, amplification, slope_bound, slope_p_values, slopes
from audit.stats.annotation_sample import labels_for_width, proportional_allocation, stratified_sample
from audit.stats.comparison import two_sample_test
from audit.stats.confusion import confusion_summary
from audit.stats.correction import (
    check_conditioning,
    corrected_distributions,
    corrected_intervals,
    corrected_shares,
    project_to_simplex,
    rogan_gladen,
    split_confusion,
    SplitConfusion,
)
from audit.stats.decision import (
    DECIDE_MODES,
    FAIL,
    HARM,
    NOT_JUDGED,
    PASS,
    SAFETY,
    adjusted_p_values,
    bound_confidence,
    statuses,
)
from audit.stats.design_effect import cluster_dispersion, effective_counts
from audit.stats.deviation import (
    METRICS,
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
from audit.stats.distance_limits import (
    DISTANCES,
    distance,
    interval,
    lower_bound,
    p_beyond,
    p_beyond_method,
    p_within,
    p_within_method,
    upper_bound,
)
from audit.stats.distributions import GroupCounts, distributions, group_counts
from audit.stats.diversity import embedding_diversity, mean_pairwise_cosine_distance, vendi_score
from audit.stats.image_labels import image_labels, label_sets, probe_table, top_labels
from audit.stats.intervals import goodman_intervals, share_intervals, wilson_interval
from audit.stats.multiple_testing import benjamini_hochberg
from audit.stats.paired import mcnemar_exact, paired_comparison, unpaired_comparison
from audit.stats.planning import false_fail_rate, plan, power_beyond, seeds_needed
from audit.stats.rate_limits import clopper_pearson, dispersion, p_rate_beyond, p_rate_within, pooled_rate
from audit.stats.ratio_limits import (
    paired_ratio,
    paired_ratio_bound,
    unpaired_ratio,
    unpaired_ratio_bound,
    unpaired_ratio_interval,
)
from audit.stats.reference import Reference
from audit.stats.zero_tolerance import zero_tolerance_power, zero_tolerance_seeds

__all__ = [
    "SplitConfusion",
    "split_confusion",
    "annotator_agreement",
    "cohen_kappa",
    "fleiss_kappa",
    "labels_for_width",
    "proportional_allocation",
    "stratified_sample",
    "DECIDE_MODES",
    "DISTANCES",
    "FAIL",
    "HARM",
    "METRICS",
    "NOT_JUDGED",
    "PASS",
    "REFERENCE_FLOOR",
    "SAFETY",
    "GroupCounts",
    "Reference",
    "adjusted_p_values",
    "amplification",
    "benjamini_hochberg",
    "bound_confidence",
    "check_conditioning",
    "clopper_pearson",
    "cluster_dispersion",
    "confusion_summary",
    "corrected_distributions",
    "corrected_intervals",
    "corrected_shares",
    "deviation_rows",
    "deviations",
    "dispersion",
    "distance",
    "distance_range",
    "distributions",
    "effective_counts",
    "embedding_diversity",
    "false_fail_rate",
    "goodman_intervals",
    "goodness_of_fit",
    "group_counts",
    "heim_deviation",
    "image_labels",
    "interval",
    "kl_divergence",
    "label_sets",
    "lower_bound",
    "max_gap",
    "mcnemar_exact",
    "mean_absolute_deviation",
    "mean_pairwise_cosine_distance",
    "normalised_entropy",
    "p_beyond",
    "p_beyond_method",
    "p_rate_beyond",
    "p_rate_within",
    "p_within",
    "p_within_method",
    "paired_comparison",
    "paired_ratio",
    "paired_ratio_bound",
    "plan",
    "pooled_rate",
    "power_beyond",
    "probe_table",
    "project_to_simplex",
    "rogan_gladen",
    "seeds_needed",
    "share_intervals",
    "share_range",
    "slope_bound",
    "slope_p_values",
    "slopes",
    "statuses",
    "top_labels",
    "tv_distance",
    "two_sample_test",
    "unpaired_comparison",
    "unpaired_ratio",
    "unpaired_ratio_bound",
    "unpaired_ratio_interval",
    "upper_bound",
    "vendi_score",
    "wilson_interval",
    "zero_tolerance_power",
    "zero_tolerance_seeds",
]
