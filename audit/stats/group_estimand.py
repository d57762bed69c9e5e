"""What a group's share is: its prompts weighted equally, whatever each abstains.

A deviation or rate check judges a group of prompts (an occupation across its
templates, a suite) by its label shares. The group's **estimand** is defined
here once, and every design targets it — the fixed test, the sequential test,
their confidence sequence or interval, the reported value and the comparison
with the limit:

    p_group = (1 / J) * sum_j p_j,   p_j = prompt j's label shares among its judged images

with J the group's prompts. Each prompt's share is taken among its judged
images, so a prompt's weight never depends on how often the classifier
abstains on it. (Pooling every judged image instead weights prompt j by its
judged count: a prompt the classifier abstains on 60% of the time would count
for less than half of one that never abstains, and a compliant group could
fail — or a violating one pass — on abstention alone.) A group with a prompt
that has no judged image has no estimate: it is not judged.

- **Fixed design.** The estimate is the mean of the prompts' shares; its
  tests and interval treat it as a multinomial sample of ``J * min_j n_j``
  images. That never understates its variance: ``sum_j p_j(1-p_j) / (J^2
  n_j) <= mean_j p_j(1-p_j) / (J min n) <= pbar(1-pbar) / (J min n)``
  (Kish's ``J^2 / sum 1/n_j`` can, when the prompt with fewer judged images
  has the larger variance: 0.075 false fails at alpha 0.05 in a calibration
  cell of rates 2% and 8%). It is the pooled count when the prompts have
  equal judged counts — so nothing changes where no prompt abstains.
- **Sequential design.** An observation must have the group's estimand as its
  mean *given the past*, and images that share a seed are linked by their
  starting noise, so an observation is built from whole seed positions: from
  the position after the previous observation's last one, each prompt
  contributes its first judged image, and the observation is the mean of the
  J one-hot labels. Its seed positions are all later than every earlier
  observation's, and which of a prompt's images is taken depends only on that
  prompt's own abstentions, so its conditional mean is exactly ``p_group``
  (each prompt's first judged image after a fixed position has that prompt's
  judged shares, whatever the other prompts did at the same seeds). Images a
  prompt makes while waiting for a slower prompt's next judged image are not
  used by the test; with no abstention every seed position is one
  observation, as before.
"""

from __future__ import annotations

import dataclasses

import numpy as np


def prompt_weighted_shares(per_prompt) -> tuple[np.ndarray, float]:
    """The group's shares (its prompts' judged shares, averaged) and its effective judged count, J times the
    smallest prompt's.

    ``per_prompt``: (J, K) judged counts of each prompt. A prompt with no judged
    image gives NaN shares (the estimand is undefined).
    """
    counts = np.atleast_2d(np.asarray(per_prompt, dtype=float))
    n = counts.sum(axis=1)
    if len(n) == 0 or (n <= 0).any():
        return np.full(counts.shape[1], np.nan), 0.0
    shares = (counts / n[:, None]).mean(axis=0)
    effective = len(n) * float(n.min())
    return shares, effective


def prompt_weighted_counts(per_prompt) -> np.ndarray:
    """The group's estimand as counts for the fixed tests: its shares times its effective count (floats; NaN
    when a prompt has no judged image). Equal to the pooled counts when every prompt has as many judged images."""
    per_prompt = np.atleast_2d(np.asarray(per_prompt, dtype=float))
    if len(per_prompt) == 1:
        return per_prompt[0].copy()
    shares, effective = prompt_weighted_shares(per_prompt)
    return shares * effective


def prompt_weighted_abstentions(per_prompt, unknown) -> tuple[np.ndarray, int]:
    """The group as one pooled sample of judged counts and abstentions with its prompts weighted equally over all
    their images: what :func:`audit.stats.abstention.distance_range` and ``share_range`` need to say where the
    abstentions could put the group's shares.

    Filling prompt j's abstentions moves the group's shares within ``u_j / (J N_j)`` of a simplex (N_j its
    images); a sum of scaled simplices is the simplex scaled by the sum, so the group behaves as one sample whose
    abstention share is the mean of the prompts'. The scale is the group's images, rounded so the abstentions are
    a whole number.
    """
    counts = np.atleast_2d(np.asarray(per_prompt, dtype=float))
    unknown = np.asarray(unknown, dtype=float).reshape(-1)
    total = counts.sum(axis=1) + unknown
    base = (counts / total[:, None]).mean(axis=0)
    abstaining = float((unknown / total).mean())
    if abstaining <= 0:
        return base * total.sum(), 0
    whole = max(1, int(round(abstaining * total.sum())))
    return base * whole / abstaining, whole


@dataclasses.dataclass(frozen=True)
class Blocks:
    """Sequential observations of G groups, padded to T: observation b of group g exists for b < ``counts[g]``."""

    shares: np.ndarray  # (G, T, K) each observation's mean one-hot label over the group's prompts
    ends: np.ndarray  # (G, T) the last seed position it uses (T where it does not exist)
    images: np.ndarray  # (G, T) images (every prompt's, abstentions included) at the seed positions it spans
    judged: np.ndarray  # (G, T) judged images at those positions
    counts: np.ndarray  # (G,) observations of each group
    picks: np.ndarray  # (G, T, J) the label index of each prompt's image in the observation


def prompt_blocks(codes, k: int, made=None) -> Blocks:
    """The sequential observations of groups of prompts under the group estimand: each, the mean one-hot label of
    every prompt's first judged image after the previous observation's last seed position.

    ``codes``: (G, J, T) each group's prompts' label index at each seed position, -1 where the prompt abstained
    or made no image; ``made`` (same shape, default all) which of them are images at all (an abstention is an
    image that is not judged).
    """
    codes = np.asarray(codes, dtype=np.int64)
    made = np.ones(codes.shape, dtype=bool) if made is None else np.asarray(made, dtype=bool)
    if codes.ndim == 2:
        codes, made = codes[None], made[None]
    return Blocks(*_blocks(codes, made, k))


def _blocks(codes: np.ndarray, made: np.ndarray, k: int):
    g, j, t = codes.shape
    judged = codes >= 0
    onehot = np.zeros((g, j, t, k))
    gi, ji, ti = np.nonzero(judged)
    onehot[gi, ji, ti, codes[gi, ji, ti]] = 1.0
    images_at = np.concatenate([np.zeros((g, 1)), np.cumsum(made.sum(axis=1), axis=1)], axis=1)  # (G, T+1)
    judged_at = np.concatenate([np.zeros((g, 1)), np.cumsum(judged.sum(axis=1), axis=1)], axis=1)
    shares = np.zeros((g, t, k))
    ends = np.full((g, t), t, dtype=np.int64)
    picks = np.full((g, t, j), -1, dtype=np.int64)
    if judged.all():  # every prompt judged at every position: one observation per position
        shares[:] = onehot.mean(axis=1)
        ends[:] = np.arange(t)
        picks[:] = codes.transpose(0, 2, 1)
        counts = np.full(g, t, dtype=np.int64)
    else:
        index = np.where(judged, np.arange(t), t)
        following = np.minimum.accumulate(index[..., ::-1], axis=-1)[..., ::-1]
        following = np.concatenate([following, np.full((g, j, 1), t)], axis=-1)  # (G, J, T+1): next judged >= s
        last = np.full(g, -1, dtype=np.int64)
        counts = np.zeros(g, dtype=np.int64)
        rows = np.arange(g)
        for b in range(t):
            start = np.minimum(last + 1, t)
            taken = np.take_along_axis(following, start[:, None, None].repeat(j, axis=1), axis=-1)[..., 0]  # (G, J)
            end = taken.max(axis=1)
            ok = end < t
            if not ok.any():
                break
            live = rows[ok]
            picked = taken[ok]
            shares[live, b] = onehot[live[:, None], np.arange(j)[None, :], picked].mean(axis=1)
            picks[live, b] = codes[live[:, None], np.arange(j)[None, :], picked]
            ends[live, b] = end[ok]
            counts[ok] += 1
            last = np.where(ok, end, t)
    prev = np.concatenate([np.full((g, 1), -1), ends[:, :-1]], axis=1)
    valid = ends < t
    safe_end, safe_prev = np.minimum(ends, t - 1) + 1, np.clip(prev + 1, 0, t)

    def spanned(cumulative: np.ndarray) -> np.ndarray:
        between = np.take_along_axis(cumulative, safe_end, 1) - np.take_along_axis(cumulative, safe_prev, 1)
        return np.where(valid, between, 0).astype(np.int64)

    return shares, ends, spanned(images_at), spanned(judged_at), counts, picks
