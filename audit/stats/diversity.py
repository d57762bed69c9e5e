"""Diversity of a prompt's images: of their labels (normalised entropy) and of their embeddings."""

from __future__ import annotations

import numpy as np

from audit.stats.deviation import normalised_entropy

__all__ = ["embedding_diversity", "mean_pairwise_cosine_distance", "normalised_entropy", "vendi_score"]


def _unit_rows(embeddings) -> np.ndarray:
    x = np.asarray(embeddings, float)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array (images, dims), got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("an embedding is all zeros; cosine similarity is undefined")
    return x / norms


def mean_pairwise_cosine_distance(embeddings) -> float:
    """Mean of 1 - cos(a, b) over all pairs of distinct images; 0 when all images look the same."""
    x = _unit_rows(embeddings)
    n = len(x)
    if n < 2:
        return float("nan")
    # Sum of all pairwise similarities from the squared norm of the sum, without the n×n matrix.
    total = float(np.square(x.sum(axis=0)).sum())
    mean_similarity = (total - n) / (n * (n - 1))
    return 1.0 - mean_similarity


def vendi_score(embeddings) -> float:
    """The Vendi score (Friedman & Dieng 2023) with the cosine kernel: the effective number of distinct images.

    exp of the Shannon entropy of the eigenvalues of K/n; between 1 (all
    alike) and n (all orthogonal). Uses the d×d covariance when it is smaller
    than the n×n kernel: both have the same non-zero eigenvalues.
    """
    x = _unit_rows(embeddings)
    n, d = x.shape
    gram = x.T @ x / n if d < n else x @ x.T / n
    eig = np.clip(np.linalg.eigvalsh(gram), 0, None)
    eig = eig[eig > 1e-12]
    return float(np.exp(-(eig * np.log(eig)).sum()))


def embedding_diversity(embeddings, groups, *, by):
    """Mean pairwise cosine distance and Vendi score of each group's image embeddings.

    ``embeddings``: a table with ``record_id``, ``classifier`` and ``embedding``
    (one vector per image, as a list or array); ``groups``: a table mapping
    ``record_id`` to the grouping columns ``by`` (the labels table, say).
    One row per (group, classifier) with ``n``, ``mean_cosine_distance`` and
    ``vendi``.
    """
    import pandas as pd

    missing = [c for c in ("record_id", "classifier", "embedding") if c not in embeddings.columns]
    if missing:
        raise ValueError(f"embeddings: missing column(s) {', '.join(missing)}")
    keys = groups.loc[:, ["record_id", *by]].drop_duplicates("record_id")
    merged = embeddings.merge(keys, on="record_id", how="inner")
    rows = []
    for key, sub in merged.groupby([*by, "classifier"], sort=True, dropna=False):
        vectors = np.stack([np.asarray(v, dtype=float) for v in sub["embedding"]])
        key = key if isinstance(key, tuple) else (key,)
        rows.append(
            {
                **dict(zip([*by, "classifier"], key, strict=True)),
                "n": len(vectors),
                "mean_cosine_distance": mean_pairwise_cosine_distance(vectors),
                "vendi": vendi_score(vectors),
            }
        )
    return pd.DataFrame(rows, columns=[*by, "classifier", "n", "mean_cosine_distance", "vendi"])
