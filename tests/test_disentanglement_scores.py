"""DCI, SAP and the FactorVAE score in disentanglement_lib's style: identity-like codes near 1, constant or random
codes near 0, a duplicated latent lowers SAP (and MIG), and one hand-computed case per metric."""

import numpy as np
import pytest

from lit_gen.metrics.disentanglement import mig
from lit_gen.metrics.disentanglement_scores import dci, dci_from_importances, factor_vae_score, sap

N, K = 3000, 3


@pytest.fixture(scope="module")
def factors():
    return np.random.default_rng(0).uniform(-1, 1, (N, K))


def identity_code(f):
    return f + 0.01 * np.random.default_rng(1).normal(size=f.shape)


def random_code(f):
    return np.random.default_rng(2).normal(size=(len(f), K))


def test_dci_identity_near_one_random_and_constant_near_zero(factors):
    good = dci(identity_code(factors), factors)
    assert good["dci_disentanglement"] > 0.9 and good["dci_completeness"] > 0.9 and good["dci_informativeness"] > 0.6
    bad = dci(random_code(factors), factors)
    assert bad["dci_disentanglement"] < 0.2 and bad["dci_completeness"] < 0.2 and bad["dci_informativeness"] < 0.15
    const = dci(np.zeros((N, K)), factors)
    assert const["dci_disentanglement"] == 0.0 and const["dci_informativeness"] < 0.15


def test_dci_by_hand():
    assert dci_from_importances(np.eye(2)) == pytest.approx((1.0, 1.0))
    assert dci_from_importances(np.full((2, 2), 0.5)) == pytest.approx((0.0, 0.0))
    # latent 0 all on factor 0; latent 1 split evenly: D = 0.5 * 1 + 0.5 * 0; completeness of factor 0: importances
    # (0.5, 0.25) over 2 latents -> p = (2/3, 1/3), 1 - H_2 = 1 - 0.9183 = 0.0817; factor 1: (0, 0.25) -> 1
    r = np.array([[0.5, 0.0], [0.25, 0.25]])
    d, c = dci_from_importances(r)
    h = -(2 / 3 * np.log2(2 / 3) + 1 / 3 * np.log2(1 / 3))
    assert d == pytest.approx(0.5 * 1.0 + 0.5 * 0.0) and c == pytest.approx(((1 - h) + 1.0) / 2)


def test_sap_identity_random_duplicate_and_by_hand(factors):
    assert sap(identity_code(factors), factors) > 0.95
    assert sap(random_code(factors), factors) < 0.05
    assert sap(np.zeros((N, K)), factors) == 0.0
    z = identity_code(factors)
    duplicated = np.concatenate([z, z[:, :1]], axis=1)  # factor 0 now has two equally good latents
    assert sap(duplicated, factors) < sap(z, factors) - 0.2
    assert mig(duplicated, factors)[0] < mig(z, factors)[0] - 0.2
    # by hand: z1 = f, z2 = (f + g) / sqrt(2) with f, g independent -> R^2 = 1 and 1/2: a gap of 0.5
    rng = np.random.default_rng(3)
    f, g = rng.normal(size=20000), rng.normal(size=20000)
    assert sap(np.stack([f, (f + g) / np.sqrt(2)], 1), f[:, None]) == pytest.approx(0.5, abs=0.02)


def test_sap_discrete_factor_uses_a_threshold():
    rng = np.random.default_rng(4)
    label = rng.integers(0, 2, 4000).astype(float)
    z = np.stack([label + 0.1 * rng.normal(size=4000), rng.normal(size=4000)], 1)
    assert sap(z, label[:, None], discrete=[True]) == pytest.approx(1.0 - 0.5, abs=0.05)  # 1.0 vs chance 0.5


def _batches(code, fixed_runs, rng, size=64):
    out = []
    for k in fixed_runs:
        f = rng.uniform(-1, 1, (size, K))
        f[:, k] = rng.uniform(-1, 1)  # one factor fixed, the rest varied
        out.append((k, code(f)))
    return out


def test_factor_vae_score_identity_one_random_chance_and_by_hand():
    rng = np.random.default_rng(5)
    runs = [k for k in range(K) for _ in range(20)]
    std = np.full(K, np.sqrt(1 / 3))  # U(-1, 1)
    good = factor_vae_score(_batches(lambda f: f, runs, rng), _batches(lambda f: f, runs, rng), std, K)
    assert good == 1.0
    noise = lambda f: rng.normal(size=f.shape)  # noqa: E731
    bad = factor_vae_score(_batches(noise, runs, rng), _batches(noise, runs, rng), np.ones(K), K)
    assert bad < 0.6
    # by hand: latent 0 fixed whenever factor 0 is; latents 1 and 2 both follow factor 1 (factor 2 has none):
    # votes map latent 0 -> 0 and the collapsed latent -> 1, so batches fixing factor 2 are always wrong: 2/3
    code = lambda f: np.stack([f[:, 0], f[:, 1], f[:, 1]], 1)  # noqa: E731
    assert factor_vae_score(_batches(code, runs, rng), _batches(code, runs, rng), std, K) == pytest.approx(2 / 3)
    assert factor_vae_score([], [], np.zeros(K), K) == 0.0  # every latent pruned
