"""Amplification: does the model exaggerate the imbalance a reference (for example BLS) already shows?

The slope is that of a binomial GLM (logit link) of each prompt's label count
on the logit of its group's reference share, with one intercept per template
when the prompts come from several templates (a template that makes every
occupation look more feminine shifts the line, it does not tilt it). Its
standard error is cluster-robust over the groups (occupations): the
templates of an occupation share its deviation from the line, so they are one
unit, and the sandwich also absorbs extra-binomial scatter (the
quasi-binomial case). When the same seeds are used for every group, the
images of a seed share their starting noise across groups too: the errors
are then clustered two ways, by group and by seed (Cameron, Gelbach & Miller
2011), from per-image rows. With few seeds that shared noise also biases the
slope (the realised seeds' average curve is steeper than the model's), so the
slope is then jackknife-corrected over seeds (drop one seed at a time), and
its standard error is the larger of the two-way and the jackknife one.
Inference uses t with (fewest clusters - 1) degrees of freedom. The
correction holds the error rate for moderate seed correlation (latent 0.1 in
the calibration); strong correlation needs more seeds or a block of seeds
per prompt (``seed_blocks`` in the run config). A slope of 1 reproduces the reference; above 1 the model pushes
each group further towards its majority; below 1 it evens them out.

Reference shares are floored at :data:`REFERENCE_FLOOR` (and capped at one
minus it): a BLS row of 0% is a share below the survey's resolution, not an
impossibility, and its logit must stay finite.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import stats

REFERENCE_FLOOR = 0.005
# A group at 0% or 100% whose fitted expected count of the other outcome is below this: the fit separated.
_SEPARATED = 1e-4


def _logit(p):
    return np.log(p) - np.log1p(-p)


def amplification(
    model_count,
    model_n,
    reference_share,
    *,
    clusters=None,
    templates=None,
    confidence: float = 0.95,
) -> dict[str, float]:
    """The amplification slope from per-prompt counts: ``slope`` with its t interval, ``slope_se``, ``slope_df``.

    Rows are prompts (or single images). ``clusters`` names each row's group
    (default: every row its own), or holds two columns, (group, seed), for
    two-way clustering; ``templates`` each row's template (default: one). Also ``shift``, the mean signed
    shift of the groups' shares towards their reference majority
    ``(model - reference) * sign(reference - 0.5)``, with a t interval over groups.
    """
    count = np.asarray(model_count, float)
    n = np.asarray(model_n, float)
    ref = np.asarray(reference_share, float)
    rows = len(count)
    clusters = np.arange(rows) if clusters is None else np.asarray(clusters)
    templates = np.zeros(rows, dtype=int) if templates is None else np.asarray(templates)
    ok = (n > 0) & np.isfinite(ref)
    count, n, ref, clusters, templates = count[ok], n[ok], ref[ok], clusters[ok], templates[ok]
    ref = np.clip(ref, REFERENCE_FLOOR, 1 - REFERENCE_FLOOR)
    two_way = clusters.ndim == 2
    group_col = clusters[:, 0] if two_way else clusters
    cluster_ids = np.unique(group_col, return_inverse=True)[1]
    groups = int(cluster_ids.max() + 1) if len(cluster_ids) else 0
    seeds = len(np.unique(clusters[:, 1])) if two_way else groups
    out = {
        "groups": groups,
        "prompts": int(ok.sum()),
        "templates": int(len(np.unique(templates))),
        "clustering": "group and seed (slope jackknife-corrected over seeds)" if two_way else "group",
        "slope": np.nan,
        "slope_low": np.nan,
        "slope_high": np.nan,
        "slope_se": np.nan,
        "slope_df": np.nan,
        "intercept": np.nan,
        "shift": np.nan,
        "shift_low": np.nan,
        "shift_high": np.nan,
        "reference_floored": int(
            np.sum(
                (np.asarray(reference_share, float)[ok] < REFERENCE_FLOOR)
                | (np.asarray(reference_share, float)[ok] > 1 - REFERENCE_FLOOR)
            )
        ),
    }
    if groups == 0:
        return out
    # The shift is per group: its pooled share against its reference.
    g_count = np.bincount(cluster_ids, weights=count)
    g_n = np.bincount(cluster_ids, weights=n)
    g_ref = np.bincount(cluster_ids, weights=ref * n) / g_n
    shift = (g_count / g_n - g_ref) * np.sign(g_ref - 0.5)
    out["shift"] = float(shift.mean())
    if groups >= 2:
        half = stats.t.ppf(0.5 + confidence / 2, groups - 1) * stats.sem(shift)
        out["shift_low"], out["shift_high"] = out["shift"] - half, out["shift"] + half
    x = _logit(ref)
    if groups < 3 or np.ptp(x) == 0 or (two_way and seeds < 2):
        return out
    if two_way:
        cluster_arg = np.column_stack([cluster_ids, np.unique(clusters[:, 1], return_inverse=True)[1]])
    else:
        cluster_arg = cluster_ids
    fit = _glm(count, n, x, templates, cluster_arg)
    if fit is None:
        return out
    slope, se, intercept = fit
    if two_way:
        corrected = _seed_jackknife(count, n, x, templates, cluster_ids, cluster_arg[:, 1], slope)
        if corrected is None:
            return out
        out["slope_uncorrected"] = slope
        slope, jackknife_se = corrected
        se = max(se, jackknife_se)
    df = min(groups, seeds) - 1
    half = stats.t.ppf(0.5 + confidence / 2, df) * se
    out.update(
        slope=slope, slope_se=se, slope_df=df, intercept=intercept, slope_low=slope - half, slope_high=slope + half
    )
    return out


def _separated(count, n, fitted) -> Any:
    """Whether a fit ran off to a share of 0 or 1 (per row of a 2-D ``fitted``): separation.

    At a group with all or none of its images labelled, a fit that exists leaves the other outcome an
    expected count well above ``_SEPARATED``; one whose likelihood rises without end drives it to 0.
    """
    count, n, fitted = np.asarray(count, float), np.asarray(n, float), np.asarray(fitted, float)
    other = np.where(count >= n, n * (1 - fitted), np.where(count <= 0, n * fitted, np.inf))
    other = np.where(n > 0, other, np.inf)
    return np.min(other, axis=-1) < _SEPARATED


def _design(x, templates) -> np.ndarray:
    levels = np.unique(templates)
    dummies = [(templates == level).astype(float) for level in levels[1:]]
    return np.column_stack([np.ones(len(x)), x, *dummies])


def _seed_jackknife(count, n, x, templates, groups, seeds, slope: float) -> tuple[float, float] | None:
    """Jackknife over seeds: the bias-corrected slope and its jackknife standard error."""
    import statsmodels.api as sm

    levels = np.unique(seeds)
    # Rows with the same group and template share their covariates: their counts add up (the same likelihood).
    keys = np.unique(
        np.column_stack([groups, np.unique(templates, return_inverse=True)[1]]), axis=0, return_inverse=True
    )[1]
    first = np.unique(keys, return_index=True)[1]
    design = _design(x[first], templates[first])
    left_out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in levels:
            keep = seeds != seed
            c = np.bincount(keys[keep], weights=count[keep], minlength=len(first))
            m = np.bincount(keys[keep], weights=n[keep], minlength=len(first))
            rows = m > 0
            try:
                fit = sm.GLM(
                    np.column_stack([c[rows], (m - c)[rows]]), design[rows], family=sm.families.Binomial()
                ).fit()
            except (ValueError, np.linalg.LinAlgError):
                return None
            if _separated(c[rows], m[rows], np.asarray(fit.mu)):
                return None  # without this seed the groups separate: the jackknife has no slope to use
            left_out.append(float(fit.params[1]))
    left_out = np.array(left_out)
    s = len(levels)
    if not np.isfinite(left_out).all():
        return None
    corrected = s * slope - (s - 1) * left_out.mean()
    return float(corrected), float(np.sqrt((s - 1) / s * ((left_out - left_out.mean()) ** 2).sum()))


def cluster_covariance(design, residual_scores, bread, groups) -> np.ndarray:
    """Cluster-robust (sandwich) covariance with statsmodels' small-sample factor G/(G-1) * (N-1)/(N-K)."""
    rows, k = design.shape
    ids = np.unique(groups, return_inverse=True)[1]
    sums = np.zeros((ids.max() + 1, k))
    np.add.at(sums, ids, residual_scores)
    g = len(sums)
    factor = g / (g - 1) * (rows - 1) / (rows - k) if g > 1 else np.nan
    return factor * bread @ (sums.T @ sums) @ bread


def _glm(count, n, x, templates, clusters) -> tuple[float, float, float] | None:
    """The GLM's slope, its cluster-robust standard error and intercept (None when the fit fails).

    One fit; the sandwich is computed for each clustering. With two-way
    clusters the Cameron-Gelbach-Miller variance (group + seed - both) can
    come out negative or below a one-way one; the largest of the two-way and
    the two one-way variances is used.
    """
    import statsmodels.api as sm

    design = _design(x, templates)
    endog = np.column_stack([count, n - count])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = sm.GLM(endog, design, family=sm.families.Binomial()).fit()
        except (ValueError, np.linalg.LinAlgError):
            return None
    # Groups at 0% or 100% that a line on the logit scale can separate from the rest leave the slope
    # unidentified (its likelihood rises without end): the fit runs off, its linear predictor beyond
    # any share an image count can show. No slope then, rather than a huge one with a useless interval.
    if _separated(count, n, np.asarray(result.mu)):
        return None
    fitted = np.asarray(result.mu)
    scores = design * (count - n * fitted)[:, None]
    try:
        bread = np.linalg.inv(design.T @ (design * (n * fitted * (1 - fitted))[:, None]))
    except np.linalg.LinAlgError:
        return None
    if clusters.ndim == 1:
        variance = cluster_covariance(design, scores, bread, clusters)[1, 1]
    else:
        both = clusters[:, 0].astype(np.int64) * (int(clusters[:, 1].max()) + 1) + clusters[:, 1]
        by_group, by_seed, by_cell = (
            cluster_covariance(design, scores, bread, c)[1, 1] for c in (clusters[:, 0], clusters[:, 1], both)
        )
        variance = max(by_group + by_seed - by_cell, by_group, by_seed)
    slope = float(result.params[1])
    if not (np.isfinite(slope) and np.isfinite(variance) and variance > 0):
        return None
    return slope, float(np.sqrt(variance)), float(result.params[0])


def slopes(model_count, model_n, reference_share, *, templates=None, iterations: int = 50) -> np.ndarray:
    """The amplification slope of each row of ``model_count`` (draws × prompts), all draws at once.

    The same binomial GLM as :func:`amplification` (logit of the model's share on the logit of the
    reference, one intercept per template), fitted by Newton's method in numpy for many count
    vectors of the same prompts: bootstrap and permutation draws. Point estimates only; NaN where a
    draw's fit does not converge (complete separation, no variation).
    """
    count = np.atleast_2d(np.asarray(model_count, float))
    n = np.broadcast_to(np.atleast_2d(np.asarray(model_n, float)), count.shape)
    ref = np.clip(np.asarray(reference_share, float), REFERENCE_FLOOR, 1 - REFERENCE_FLOOR)
    templates = np.zeros(count.shape[1], dtype=int) if templates is None else np.asarray(templates)
    design = _design(_logit(ref), templates)  # prompts × k
    k = design.shape[1]
    beta = np.zeros((len(count), k))
    converged = np.zeros(len(count), dtype=bool)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for _ in range(iterations):
            mu = 1 / (1 + np.exp(-(beta @ design.T)))
            weight = n * mu * (1 - mu)
            gradient = (count - n * mu) @ design
            hessian = np.einsum("dp,pi,pj->dij", weight, design, design)
            try:
                step = np.linalg.solve(hessian + 1e-12 * np.eye(k), gradient[..., None])[..., 0]
            except np.linalg.LinAlgError:
                step = np.full_like(beta, np.nan)
            beta = beta + step
            converged = np.abs(step).max(axis=1) < 1e-8
            if converged.all() or not np.isfinite(beta).any():
                break
    out = beta[:, 1].copy()
    with np.errstate(over="ignore"):
        separated = _separated(count, n, 1 / (1 + np.exp(-(beta @ design.T))))
    out[~converged | separated | ~np.isfinite(out)] = np.nan
    return out


def slope_p_values(result: dict, limit: float) -> tuple[float, float]:
    """One-sided t p-values of H0: slope <= limit (harm) and H0: slope >= limit (safety)."""
    if not np.isfinite(result["slope"]):
        return float("nan"), float("nan")
    t = (result["slope"] - limit) / result["slope_se"]
    return float(stats.t.sf(t, result["slope_df"])), float(stats.t.cdf(t, result["slope_df"]))


def slope_bound(result: dict, confidence: float, side: str) -> float:
    """One-sided t bound of the slope at ``confidence`` (``side`` "lower" or "upper")."""
    if not np.isfinite(result["slope"]):
        return float("nan")
    half = stats.t.ppf(confidence, result["slope_df"]) * result["slope_se"]
    return result["slope"] - half if side == "lower" else result["slope"] + half
