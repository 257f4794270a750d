"""Topic coherence measures.

The birth rule (a misfit cluster becomes a topic when ``coherence >
daily.min_coherence``) uses :func:`separability`, an embedding measure that
does not depend on the embedding model's scale: the probability that a
member of the cluster is more similar to the cluster's centroid than a video
outside it is (ROC AUC, Mann-Whitney). Each member is compared with the
centroid of the *other* members (leave-one-out), so a random group scores
about 0.5 however small it is, and a distinct group close to 1.
:func:`npmi` scores keyword coherence for the quality benchmarks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["cohesion", "npmi", "separability"]


def cohesion(members: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Unit centroid, mean and std of the members' cosine to it."""
    c = members.mean(axis=0)
    c = c / (np.linalg.norm(c) or 1.0)
    sims = members @ c
    return c.astype(np.float32), float(sims.mean()), float(sims.std())


def separability(members: np.ndarray, others: np.ndarray) -> float:
    """AUC that members sit closer to the (leave-one-out) centroid than ``others`` do.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> c = np.eye(16)[0]
        >>> m = c + 0.3 * rng.standard_normal((40, 16)); o = rng.standard_normal((200, 16))
        >>> separability(m, o) > 0.95
        True
    """
    members = np.asarray(members, dtype=np.float64)
    others = np.asarray(others, dtype=np.float64)
    if len(members) < 2 or len(others) == 0:
        return 0.0
    members = members / np.linalg.norm(members, axis=1, keepdims=True)
    total = members.sum(axis=0)
    loo = total[None, :] - members
    loo /= np.linalg.norm(loo, axis=1, keepdims=True)
    s_in = np.einsum("ij,ij->i", members, loo)
    c = total / np.linalg.norm(total)
    o = others / np.linalg.norm(others, axis=1, keepdims=True)
    s_out = o @ c
    # Mann-Whitney U via ranks
    allv = np.concatenate([s_in, s_out])
    ranks = allv.argsort().argsort() + 1.0
    u = ranks[: len(s_in)].sum() - len(s_in) * (len(s_in) + 1) / 2.0
    return float(u / (len(s_in) * len(s_out)))


def npmi(keywords: Sequence[str], docs_tokens: Sequence[set[str]], top_n: int = 10) -> float:
    """Mean normalised PMI of keyword pairs over document co-occurrence (in [-1, 1])."""
    kws = [k for k in keywords[:top_n]]
    n_docs = len(docs_tokens)
    if len(kws) < 2 or n_docs == 0:
        return 0.0
    occ = {k: {i for i, toks in enumerate(docs_tokens) if k in toks} for k in kws}
    vals = []
    for a in range(len(kws)):
        for b in range(a + 1, len(kws)):
            pa, pb = len(occ[kws[a]]) / n_docs, len(occ[kws[b]]) / n_docs
            pab = len(occ[kws[a]] & occ[kws[b]]) / n_docs
            if pab == 0 or pa == 0 or pb == 0:
                vals.append(-1.0)
            elif pab == 1.0:
                vals.append(1.0)
            else:
                vals.append(float(np.log(pab / (pa * pb)) / -np.log(pab)))
    return float(np.mean(vals))
