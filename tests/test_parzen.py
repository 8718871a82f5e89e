"""Parzen-window log-likelihood on Gaussians of known density, and the multi-scale estimator."""
import math

import numpy as np
import pytest

from tfvidgen.metrics import parzen


def _gauss_logpdf(x):
    x = x.reshape(len(x), -1)
    return -0.5 * np.sum(x * x, axis=1) - 0.5 * x.shape[1] * math.log(2 * math.pi)


def test_one_centre_is_a_gaussian():
    rng = np.random.default_rng(0)
    x = rng.standard_normal([50, 3])
    c = np.array([[0.5, -1.0, 2.0]])
    sigma = 0.7
    want = (-np.sum((x - c) ** 2, axis=1) / (2 * sigma ** 2)
            - 1.5 * math.log(2 * math.pi * sigma ** 2))
    np.testing.assert_allclose(parzen.log_parzen(x, c, sigma), want, rtol=1e-10)
    # Two centres: log of the average of the two Gaussians; chunking changes nothing.
    c2 = np.stack([c[0], -c[0]])
    want2 = np.logaddexp(parzen.log_parzen(x, c2[:1], sigma),
                         parzen.log_parzen(x, c2[1:], sigma)) - math.log(2)
    np.testing.assert_allclose(parzen.log_parzen(x, c2, sigma, chunk=7), want2, rtol=1e-10)


def test_parzen_recovers_a_known_gaussian_density():
    """Samples of N(0, I_2): the estimate approaches the true mean log-density."""
    rng = np.random.default_rng(1)
    samples = rng.standard_normal([4000, 2])
    validation = rng.standard_normal([400, 2])
    test = rng.standard_normal([800, 2])
    result = parzen.parzen_evaluate(samples, validation, test)
    truth = _gauss_logpdf(test).mean()  # about -2.84 nats
    assert result["mean"] == pytest.approx(truth, abs=0.08)
    assert 0.05 < result["sigma"] < 0.5 and not result["sigma_at_grid_edge"]
    assert result["dim"] == 2 and result["num_test"] == 800
    # A wrong model (shifted samples) scores lower.
    wrong = parzen.parzen_evaluate(samples + 1.5, validation, test)
    assert wrong["mean"] < result["mean"] - 0.5


def test_haar_split_is_unitary_and_invertible():
    rng = np.random.default_rng(2)
    x = rng.standard_normal([3, 8, 4, 2])
    low, high = parzen.haar_split(x)
    assert low.shape == (3, 4, 2, 2) and high.shape == (3, 4, 2, 2, 3)
    # The low pass is 2x the mean of each 2x2 block (d(x), scaled to keep the map unitary).
    np.testing.assert_allclose(low[:, 0, 0], 2 * x[:, :2, :2].mean(axis=(1, 2)))
    # Norm preserved (orthonormal), inverse exact.
    np.testing.assert_allclose(np.sum(x ** 2, axis=(1, 2, 3)),
                               np.sum(low ** 2, axis=(1, 2, 3))
                               + np.sum(high ** 2, axis=(1, 2, 3, 4)))
    np.testing.assert_allclose(parzen.haar_merge(low, high), x, atol=1e-12)
    # The detail coefficients do not see the block means.
    _, high_shifted = parzen.haar_split(x + 5.0)
    np.testing.assert_allclose(high_shifted, high, atol=1e-12)
    highs, coarse = parzen.pyramid(x, 2)
    assert [h.shape for h in highs] == [(3, 4, 2, 2, 3), (3, 2, 1, 2, 3)]
    assert coarse.shape == (3, 2, 1, 2)
    with pytest.raises(ValueError):
        parzen.haar_split(x[:, :3])


def test_multiscale_recovers_a_known_gaussian_density():
    """2x2 'images' of iid N(0, 1) pixels: a unitary map keeps the density, and the levels
    (1 low-pass and 3 high-pass coefficients) are independent Gaussians."""
    rng = np.random.default_rng(3)
    samples = rng.standard_normal([4000, 2, 2, 1])
    validation = rng.standard_normal([400, 2, 2, 1])
    test = rng.standard_normal([800, 2, 2, 1])
    truth = _gauss_logpdf(test).mean()  # about -5.68 nats
    result = parzen.multiscale_evaluate(samples, validation, test, levels=1)
    assert result["mean"] == pytest.approx(truth, abs=0.2)
    assert [lv["dim"] for lv in result["levels"]] == [3, 1]
    assert result["conditional"] is False
    assert sum(lv["mean"] for lv in result["levels"]) == pytest.approx(result["mean"])
    # The seed's conditional sampling: high passes drawn given each true low pass.
    draw = np.random.default_rng(4)

    def highpass_fn(level, lowpass):
        return draw.standard_normal([len(lowpass), 2000, 1, 1, 1, 3])

    cond = parzen.multiscale_evaluate(samples, validation[:100], test[:200], levels=1,
                                      highpass_fn=highpass_fn)
    assert cond["conditional"] is True
    assert cond["mean"] == pytest.approx(_gauss_logpdf(test[:200]).mean(), abs=0.35)
    # Given coarse centres are used for the low pass only.
    given = parzen.multiscale_evaluate(samples, validation, test, levels=1,
                                       coarse_centres=samples[:1000])
    assert given["coarse_centres"] == "given"


def test_multiscale_on_images_beats_full_resolution_with_few_samples():
    """The seed's observation (table 4.1): at equal samples the multi-scale estimate is higher."""
    rng = np.random.default_rng(5)
    pixels = lambda n: rng.uniform(0, 1, [n, 8, 8, 1])  # noqa: E731
    samples, validation, test = pixels(2000), pixels(200), pixels(200)
    full = parzen.parzen_evaluate(samples, validation, test)
    multi = parzen.multiscale_evaluate(samples, validation, test, levels=2)
    assert multi["mean"] > full["mean"]
    with pytest.raises(ValueError, match="divisible"):
        parzen.multiscale_evaluate(samples[:, :6], validation[:, :6], test[:, :6], levels=2)


def test_streaming_over_centre_blocks_equals_the_direct_sum():
    """Centre blocks folded into a running log-sum-exp give the one-block result, for float32
    centres too (they are converted per block, never as a whole)."""
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, [9, 4, 4, 3])
    centres = rng.uniform(0, 1, [101, 4, 4, 3]).astype(np.float32)
    sigmas = [0.05, 0.2, 1.0]
    d2 = ((x.reshape(9, 1, -1) - centres.astype(np.float64).reshape(1, 101, -1)) ** 2).sum(-1)
    want = np.stack([np.log(np.exp(-d2 / (2 * s * s)).mean(axis=1)) - 24 * math.log(
        2 * math.pi * s * s) for s in sigmas[1:]], axis=1)
    for block in (7, 64, 1000):
        got = parzen.log_parzen_multi(x, centres, sigmas, chunk=4, centre_chunk=block)
        np.testing.assert_allclose(got[:, 1:], want, rtol=1e-9)
        # sigma 0.05: exp underflows in the direct sum; the running maximum keeps it finite.
        assert np.all(np.isfinite(got[:, 0]))
        np.testing.assert_allclose(got, parzen.log_parzen_multi(x, centres, sigmas), rtol=1e-9)


def test_the_default_is_the_thesis_50000_samples_and_the_name_says_so():
    from tfvidgen.evaluate.config import EvalConfig
    assert EvalConfig().parzen_samples == 50000 and EvalConfig().parzen_ms_samples == 1000
    from tfvidgen.cli import evaluate as cli
    assert cli.FLAGS["parzen_samples"].default == 50000
    assert cli.FLAGS["parzen_ms_samples"].default == 1000
