"""Canonical correlation between two representations of the same samples: CCA, SVCCA and PWCCA (paper Fig. 10).

Inputs are (n_samples, n_features) arrays: row i of ``x`` and of ``y`` describe the same sample (e.g. the
[CLS] vectors of an English sentence and of its translation at one layer). Features are the columns, as in
the paper's appendix G; google/svcca takes the transpose (neurons, datapoints).

Canonical correlations are computed without inverting covariance matrices: after centring, ``Qx`` and ``Qy``
are orthonormal bases of the column spaces of x and y (left singular vectors), and the canonical correlations
are the singular values of ``Qx^T Qy``. This is the same quantity as the singular values of
``Sxx^-1/2 Sxy Syy^-1/2`` but never forms a square root of a near-singular matrix, so it cannot give the NaNs
that negative eigenvalues give there. Directions with singular values at rounding level (constant features,
more features than samples, duplicated features) are dropped, so rank-deficient inputs are handled exactly.

Undefined is not zero: when either side has no variance at all (every sample the same vector, as layer 0's
[CLS] vector is for every sentence) there is nothing to correlate, and :func:`svcca` / :func:`pwcca` raise
:class:`UndefinedCorrelationError` naming the constant side; the probe records NaN and says why
(:func:`subnets.probes.cca_by_layer`). :func:`canonical_correlations` returns an empty array then. More
features than samples is allowed; note that CCA then overfits (once both sides span all n - 1 centred
dimensions every canonical correlation is 1), which is why SVCCA truncates.
"""

from __future__ import annotations

import numpy as np


def _checked_pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    for name, a in (("x", x), ("y", y)):
        if a.ndim != 2:
            raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError(f"{name} holds non-finite values")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have the same number of samples (rows), got {x.shape[0]} and {y.shape[0]}")
    if x.shape[0] < 2:
        raise ValueError(f"correlations need at least 2 samples, got {x.shape[0]}")
    return x, y


def _centred_svd(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left singular vectors and singular values of the centred data, directions at rounding level dropped.

    The cut-off is relative to the size of the RAW data: centring a constant column leaves rounding residue
    of that size, which must count as zero even when nothing else varies.
    """
    centred = a - a.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    scale = max(float(np.linalg.norm(a)), float(s[0]) if s.size else 0.0)
    tolerance = max(a.shape) * np.finfo(np.float64).eps * scale
    rank = int(np.count_nonzero(s > tolerance))
    return u[:, :rank], s[:rank]


class UndefinedCorrelationError(ValueError):
    """An input has no variance (a constant representation): its correlation with anything is undefined.

    ``constant`` names the constant inputs ("x", "y" or both); ``measure`` is "SVCCA" or "PWCCA".
    """

    def __init__(self, constant: tuple[str, ...], measure: str):
        self.constant, self.measure = constant, measure
        verb = "is" if len(constant) == 1 else "are"
        super().__init__(
            f"{' and '.join(constant)} {verb} constant (every sample the same vector, no variance): "
            f"{measure} is undefined"
        )


def _require_variance(qx: np.ndarray, qy: np.ndarray, measure: str) -> None:
    constant = tuple(name for name, q in (("x", qx), ("y", qy)) if q.shape[1] == 0)
    if constant:
        raise UndefinedCorrelationError(constant, measure)


def _correlations_of_bases(qx: np.ndarray, qy: np.ndarray) -> np.ndarray:
    if qx.shape[1] == 0 or qy.shape[1] == 0:
        return np.zeros(0)
    return np.clip(np.linalg.svd(qx.T @ qy, compute_uv=False), 0.0, 1.0)


def canonical_correlations(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """All canonical correlations of x and y, largest first: min(rank x, rank y) values in [0, 1].

    Empty when either side has no variance.
    """
    x, y = _checked_pair(x, y)
    return _correlations_of_bases(_centred_svd(x)[0], _centred_svd(y)[0])


def _top_variance_directions(u: np.ndarray, s: np.ndarray, keep_variance: float) -> np.ndarray:
    """The fewest leading directions whose squared singular values reach ``keep_variance`` of the total."""
    if s.size == 0:
        return u
    explained = np.cumsum(s**2) / np.sum(s**2)
    # The small slack keeps keep_variance = 1 from failing on the rounding of the last cumulative sum.
    kept = int(np.searchsorted(explained, keep_variance * (1 - 1e-12), side="left")) + 1
    return u[:, : min(kept, s.size)]


def svcca(x: np.ndarray, y: np.ndarray, keep_variance: float = 0.99) -> float:
    """SVCCA (Raghu et al. 2017): mean canonical correlation after keeping, on each side separately, the
    fewest singular directions that explain ``keep_variance`` of its variance (squared singular values).

    Invariant to orthogonal transformations and isotropic scaling of either side. Raises
    :class:`UndefinedCorrelationError` when either side has no variance (undefined, not 0).
    """
    if not 0.0 < keep_variance <= 1.0:
        raise ValueError(f"keep_variance must lie in (0, 1], got {keep_variance}")
    x, y = _checked_pair(x, y)
    qx = _top_variance_directions(*_centred_svd(x), keep_variance)
    qy = _top_variance_directions(*_centred_svd(y), keep_variance)
    _require_variance(qx, qy, "SVCCA")
    return float(_correlations_of_bases(qx, qy).mean())


def pwcca(x: np.ndarray, y: np.ndarray) -> float:
    """PWCCA (Morcos et al. 2018): canonical correlations averaged with weights alpha_i = sum_j |<h_i, x_j>|.

    h_i is x's i-th canonical variate (unit norm, over the samples) and x_j its j-th feature (centred
    column), so a direction that accounts for more of x's features counts more. The weights always come
    from ``x`` (google/svcca switches to the other input in one branch, with a bug there), so pwcca(x, y)
    and pwcca(y, x) may differ. Raises :class:`UndefinedCorrelationError` when either side has no variance
    (undefined, not 0).
    """
    x, y = _checked_pair(x, y)
    qx, _ = _centred_svd(x)
    qy, _ = _centred_svd(y)
    _require_variance(qx, qy, "PWCCA")
    a, rho, _ = np.linalg.svd(qx.T @ qy, full_matrices=False)
    rho = np.clip(rho, 0.0, 1.0)
    variates = qx @ a  # orthonormal columns: x's canonical variates h_i, one per correlation
    weights = np.abs(variates.T @ (x - x.mean(axis=0))).sum(axis=1)
    return float(np.sum(weights * rho) / np.sum(weights))
