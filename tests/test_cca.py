from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import sqrtm
from scipy.stats import ortho_group

from subnets import cca


def orthonormal_centred_columns(n_samples: int, n_columns: int, seed: int) -> np.ndarray:
    """Mutually orthogonal unit columns with zero mean: building blocks with exactly known correlations."""
    raw = np.random.default_rng(seed).normal(size=(n_samples, n_columns))
    q, _ = np.linalg.qr(raw - raw.mean(axis=0))
    return q


def correlated_pair(rhos: list[float], n_samples: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """x = [a_1 .. a_m], y = [rho_i a_i + sqrt(1 - rho_i^2) b_i]: canonical correlations exactly rhos."""
    m = len(rhos)
    blocks = orthonormal_centred_columns(n_samples, 2 * m, seed)
    a, b = blocks[:, :m], blocks[:, m:]
    rhos = np.asarray(rhos)
    return a, a * rhos + b * np.sqrt(1 - rhos**2)


def textbook_correlations(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Singular values of Sxx^-1/2 Sxy Syy^-1/2 (full-rank inputs only)."""
    x, y = x - x.mean(axis=0), y - y.mean(axis=0)
    whiten_x = np.linalg.inv(np.real(sqrtm(x.T @ x)))
    whiten_y = np.linalg.inv(np.real(sqrtm(y.T @ y)))
    return np.linalg.svd(whiten_x @ (x.T @ y) @ whiten_y, compute_uv=False)


def test_known_canonical_correlations_survive_invertible_maps():
    x, y = correlated_pair([0.9, 0.5, 0.2])
    rng = np.random.default_rng(1)
    x_mixed = x @ rng.normal(size=(3, 3)) + 5.0  # CCA ignores invertible linear maps and offsets
    y_mixed = y @ rng.normal(size=(3, 3)) - 2.0
    np.testing.assert_allclose(cca.canonical_correlations(x_mixed, y_mixed), [0.9, 0.5, 0.2], atol=1e-10)


def test_canonical_correlations_equal_the_textbook_formula():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 6))
    y = x[:, :4] @ rng.normal(size=(4, 5)) + rng.normal(size=(300, 5))
    np.testing.assert_allclose(cca.canonical_correlations(x, y), textbook_correlations(x, y), atol=1e-8)


def test_rotation_of_the_same_representation_is_similar():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 12)) * np.geomspace(10, 0.1, 12)  # uneven variances: truncation matters
    rotated = x @ ortho_group.rvs(12, random_state=4)
    assert cca.svcca(x, rotated) > 0.99
    assert cca.pwcca(x, rotated) > 0.99
    np.testing.assert_allclose(cca.canonical_correlations(x, rotated), np.ones(12), atol=1e-8)


def test_independent_noise_is_dissimilar():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(2000, 10)), rng.normal(size=(2000, 10))
    assert 0 <= cca.svcca(x, y) < 0.3
    assert 0 <= cca.pwcca(x, y) < 0.3


def test_svcca_keeps_the_fewest_directions_reaching_the_variance_share():
    blocks = orthonormal_centred_columns(100, 4, seed=6)
    # x varies almost only along a1 and a2; its faint a3 direction is all that y shares with it.
    x = blocks[:, :3] * [10.0, 10.0, 0.01]
    y = blocks[:, 2:4]
    assert cca.svcca(x, y, keep_variance=0.99) == pytest.approx(0.0, abs=1e-10)  # a1, a2 kept: nothing shared
    assert cca.svcca(x, y, keep_variance=1.0) == pytest.approx(0.5, abs=1e-10)  # correlations 1 and 0
    assert cca.svcca(x, x[:, :2], keep_variance=0.5) == pytest.approx(1.0)  # one direction each, the same one


def test_pwcca_weights_directions_by_the_features_of_x():
    a, y = correlated_pair([0.9, 0.3], seed=7)
    x = a * [3.0, 1.0]  # x's first canonical variate (a1) accounts for 3 times more of x's features
    assert cca.pwcca(x, y) == pytest.approx((3 * 0.9 + 1 * 0.3) / 4)
    assert cca.pwcca(y, x) == pytest.approx((0.9 + 0.3) / 2)  # y's features weigh both alike
    assert cca.svcca(x, y, keep_variance=1.0) == pytest.approx(0.6)


def test_more_features_than_samples_gives_finite_values():
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(20, 50)), rng.normal(size=(20, 60))
    for value in (cca.svcca(x, y), cca.pwcca(x, y), *cca.canonical_correlations(x, y)):
        assert np.isfinite(value) and 0.0 <= value <= 1.0 + 1e-12
    assert len(cca.canonical_correlations(x, y)) == 19  # the centred data spans n - 1 dimensions


def test_constant_features_change_nothing():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(200, 5))
    y = x @ rng.normal(size=(5, 4)) + rng.normal(size=(200, 4))
    padded = np.hstack([x, np.full((200, 3), 7.25), np.zeros((200, 1))])
    assert cca.svcca(padded, y) == pytest.approx(cca.svcca(x, y), abs=1e-10)
    assert cca.pwcca(padded, y) == pytest.approx(cca.pwcca(x, y), abs=1e-10)
    np.testing.assert_allclose(cca.canonical_correlations(padded, y), cca.canonical_correlations(x, y), atol=1e-10)


def test_no_variance_at_all_is_undefined_not_zero():
    # Layer 0's [CLS] vector is the same for every sentence: nothing to correlate, so no number (not 0.0).
    rng = np.random.default_rng(10)
    constant, y = np.full((50, 4), 3.0), rng.normal(size=(50, 4))
    for a, b, named in ((constant, y, "x is"), (y, constant, "y is"), (constant, constant, "x and y are")):
        for function, measure in ((cca.svcca, "SVCCA"), (cca.pwcca, "PWCCA")):
            with pytest.raises(cca.UndefinedCorrelationError, match=f"{named} constant.*{measure} is undefined"):
                function(a, b)
        assert cca.canonical_correlations(a, b).size == 0
    with pytest.raises(cca.UndefinedCorrelationError) as raised:
        cca.svcca(constant.astype(np.float32), y)
    assert raised.value.constant == ("x",) and raised.value.measure == "SVCCA"
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize(
    "x, y, kwargs, message",
    [
        (np.ones((5, 2)), np.ones((6, 2)), {}, "same number of samples"),
        (np.ones((1, 2)), np.ones((1, 2)), {}, "at least 2 samples"),
        (np.ones(5), np.ones((5, 2)), {}, "2-D"),
        (np.full((5, 2), np.inf), np.ones((5, 2)), {}, "non-finite"),
        (np.eye(5), np.eye(5), {"keep_variance": 0.0}, "keep_variance"),
        (np.eye(5), np.eye(5), {"keep_variance": 1.5}, "keep_variance"),
    ],
)
def test_bad_inputs_are_refused(x, y, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cca.svcca(x, y, **kwargs)
    if not kwargs:
        for function in (cca.pwcca, cca.canonical_correlations):
            with pytest.raises(ValueError, match=message):
                function(x, y)
