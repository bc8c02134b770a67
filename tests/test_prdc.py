"""Improved precision / recall, density and coverage (lit_gen.metrics.prdc): hand-computed cases, the reference
``prdc`` package, the failure modes users reported in peer projects, and the torchmetrics wrapper."""

import contextlib
import io

import numpy as np
import pytest
import torch

from lit_gen.metrics.prdc import PrecisionRecall, knn_radii, prdc


def line(*xs):
    """Points on a line, as (N, 1) features."""
    return torch.tensor(xs, dtype=torch.float64)[:, None]


def test_radii_on_a_line_are_the_kth_neighbour_distances():
    x = line(0, 1, 3, 6, 10)
    assert knn_radii(x, 1).tolist() == [1, 1, 2, 3, 4]
    assert knn_radii(x, 2).tolist() == [3, 2, 3, 4, 7]
    # a duplicate is a neighbour at distance 0, the point itself is not
    assert knn_radii(line(0, 0, 5), 1).tolist() == [0, 0, 5]


def test_hand_computed_line():
    # real 0, 1, 3, 6, 10 with k = 1: radii 1, 1, 2, 3, 4, i.e. balls [-1,1] [0,2] [1,5] [3,9] [6,14]
    real = line(0, 1, 3, 6, 10)
    # fake 2 (inside [0,2] and [1,5]), 9 (on the edge of [3,9], inside [6,14]), 20 (outside all)
    fake = line(2, 9, 20)
    out = prdc(real, fake, pr_k=1, dc_k=1)
    assert out["precision"] == pytest.approx(2 / 3)
    assert out["density"] == pytest.approx((2 + 2 + 0) / (1 * 3))
    # covered: the balls of 1 (holds 2), 3 (holds 2), 6 (holds 9, on its edge), 10 (holds 9)
    assert out["coverage"] == pytest.approx(4 / 5)
    # fake radii with k = 1: 7, 7, 11 -> balls [-5,9] [2,16] [9,31]: every real point is inside one
    assert out["recall"] == pytest.approx(1.0)


def test_ties_count_as_inside():
    """A generated point exactly on a real radius is inside (the prdc package's strict < leaves it out)."""
    real = line(0, 2, 4)  # k = 1: radii 2, 2, 2
    fake = line(6, 6, 6)  # on the edge of the ball of 4 only
    out = prdc(real, fake, pr_k=1, dc_k=1)
    assert out["precision"] == 1.0 and out["coverage"] == pytest.approx(1 / 3)
    assert out["density"] == pytest.approx(1.0)


def _reference(real: np.ndarray, fake: np.ndarray, pr_k: int, dc_k: int) -> dict:
    prdc_ref = pytest.importorskip("prdc", reason="the reference package prdc is a test dependency (pip install prdc)")
    with contextlib.redirect_stdout(io.StringIO()):  # it prints the counts
        pr, dc = prdc_ref.compute_prdc(real, fake, pr_k), prdc_ref.compute_prdc(real, fake, dc_k)
    return {"precision": pr["precision"], "recall": pr["recall"], "density": dc["density"], "coverage": dc["coverage"]}


@pytest.mark.parametrize("shift, scale, n_real, n_fake", [(0.0, 1.0, 600, 500), (0.5, 1.3, 700, 400),
                                                          (2.0, 0.5, 300, 300)])
def test_agrees_with_the_prdc_package_on_continuous_features(shift, scale, n_real, n_fake):
    rng = np.random.default_rng(int(10 * shift + n_real))
    real = rng.standard_normal((n_real, 32)).astype(np.float32)
    fake = (rng.standard_normal((n_fake, 32)) * scale + shift).astype(np.float32)
    ref = _reference(real, fake, 3, 5)
    # small chunks: the chunked pass must give the numbers of the full matrices
    ours = prdc(torch.from_numpy(real), torch.from_numpy(fake), pr_k=3, dc_k=5, chunk=97)
    assert ours == pytest.approx(ref, abs=1e-12)


def test_differs_from_the_prdc_package_only_on_ties():
    real = np.array([[0.0], [2.0], [4.0]], dtype=np.float32)  # k = 1: radii 2, 2, 2
    fake = np.array([[6.0], [1.0], [3.0]], dtype=np.float32)  # 6 lies on the radius of 4
    ref = _reference(real, fake, 1, 1)
    ours = prdc(torch.from_numpy(real), torch.from_numpy(fake), pr_k=1, dc_k=1)
    assert ours["precision"] == 1.0 and ref["precision"] == pytest.approx(2 / 3)
    assert ours["recall"] == ref["recall"]


def test_identical_sets_score_one():
    x = torch.randn(400, 16, generator=torch.Generator().manual_seed(0))
    out = prdc(x, x.clone())
    assert out["precision"] == out["recall"] == out["coverage"] == 1.0
    # every real point sits in its own ball and in its k nearest neighbours' (when they are mutual)
    assert 0.5 < out["density"] <= 5.0


def test_collapsed_generator_has_high_precision_and_low_recall():
    """Mode collapse onto a few real points: precise but not diverse (torch-fidelity #58 had them swapped)."""
    g = torch.Generator().manual_seed(1)
    real = torch.randn(1000, 16, generator=g)
    fake = real[:5].repeat(100, 1) + 1e-3 * torch.randn(500, 16, generator=g)
    out = prdc(real, fake)
    assert out["precision"] == 1.0
    assert out["recall"] < 0.05 and out["coverage"] < 0.05


def test_an_outlier_lowers_precision_only():
    g = torch.Generator().manual_seed(2)
    real = torch.randn(500, 8, generator=g)
    fake = torch.randn(500, 8, generator=g)
    base = prdc(real, fake)
    out = prdc(real, torch.cat([fake, torch.full((1, 8), 100.0)]))
    assert out["precision"] == pytest.approx(base["precision"] * 500 / 501)
    assert out["coverage"] == base["coverage"]
    assert out["density"] == pytest.approx(base["density"] * 500 / 501)
    # recall does not drop; it can rise, since the outlier's own ball spans the data (Naeem et al.'s case for
    # coverage)
    assert out["recall"] >= base["recall"]


def test_realism_scores_above_one_inside_the_kept_balls():
    g = torch.Generator().manual_seed(3)
    real = torch.randn(300, 4, generator=g)
    fake = torch.cat([real[:10] + 1e-4, torch.full((1, 4), 50.0)])
    scores = prdc(real, fake, realism=True)["realism"]
    assert scores.shape == (11,)
    assert scores[-1] < 0.1  # far from every ball
    # a point 1e-4 from a real point with a kept (median-or-smaller) ball scores far above 1
    kept = knn_radii(real, 3) <= knn_radii(real, 3).median()
    assert (scores[:10][kept[:10]] > 100).all()


def test_chunked_memory_never_holds_the_full_matrix(monkeypatch):
    """Every distance block is (N, chunk) or (chunk, N), never (N, M)."""
    import lit_gen.metrics.prdc as mod

    shapes = []
    original = mod._distances

    def spy(a, b, a_sq, b_sq):
        shapes.append((len(a), len(b)))
        return original(a, b, a_sq, b_sq)

    monkeypatch.setattr(mod, "_distances", spy)
    g = torch.Generator().manual_seed(4)
    prdc(torch.randn(300, 8, generator=g), torch.randn(250, 8, generator=g), chunk=64)
    assert shapes and all(min(s) <= 64 for s in shapes)


def test_metric_matches_the_function_and_keeps_real_features():
    g = torch.Generator().manual_seed(5)
    real, fake = torch.randn(200, 8, generator=g), torch.randn(150, 8, generator=g)
    m = PrecisionRecall(reset_real_features=False)
    for part in real.split(64):
        m.update(part, real=True)
    for part in fake.split(50):
        m.update(part, real=False)
    assert m.compute() == pytest.approx(prdc(real, fake))
    m.reset()  # the real side stays: only new samples are needed
    m.update(real, real=False)
    assert m.compute()["precision"] == 1.0


def test_metric_on_images_through_a_feature_module():
    flat = torch.nn.Flatten()
    g = torch.Generator().manual_seed(6)
    imgs = torch.rand(40, 1, 4, 4, generator=g)
    m = PrecisionRecall(feature=flat, pr_k=2, dc_k=2)
    m.update(imgs, real=True)
    m.update(imgs[:20], real=False)
    out = m.compute()
    assert out["precision"] == 1.0 and out["recall"] < 1.0


@pytest.mark.parametrize("bad", [{"pr_k": 0}, {"dc_k": -1}, {"chunk": 0}])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        PrecisionRecall(**bad)


def test_too_few_points_is_an_error_not_a_number():
    m = PrecisionRecall()
    m.update(torch.randn(5, 3), real=True)
    m.update(torch.randn(5, 3), real=False)
    with pytest.raises(ValueError, match="more than k=5"):
        m.compute()
