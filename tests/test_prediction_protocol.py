"""Seed 002's best-of-N prediction protocol, with fake deterministic and stochastic predictors."""
import json

import numpy as np
import pytest

from tfvidgen.metrics import prediction
from tfvidgen.metrics.ssim import frame_scores

N_PAST, N_FUTURE = 3, 4


def _sequences(num=6, length=N_PAST + N_FUTURE, size=16, seed=0):
    """Moving bright squares on noise: frames in [-1, 1]."""
    rng = np.random.default_rng(seed)
    seqs = np.full([num, length, size, size, 3], -0.8, np.float32)
    seqs += 0.05 * rng.standard_normal(seqs.shape).astype(np.float32)
    for i in range(num):
        for t in range(length):
            x = (i + 2 * t) % (size - 4)
            seqs[i, t, 4:9, x:x + 4] = 0.9
    return np.clip(seqs, -1, 1)


def _stochastic(truth_source):
    """Futures = the truth plus noise of a random scale per sample: some draws are close."""
    def predict_fn(context, num_future, seed):
        rng = np.random.default_rng(seed)
        # Recover the truth by matching the context against the known sequences.
        idx = [int(np.argmin(np.abs(truth_source[:, :N_PAST] - c).sum(axis=(1, 2, 3, 4))))
               for c in context]
        truth = truth_source[idx, N_PAST:N_PAST + num_future]
        scale = rng.uniform(0.02, 0.6)
        return np.clip(truth + scale * rng.standard_normal(truth.shape), -1, 1).astype(np.float32)
    return predict_fn


def test_deterministic_predictor_one_sample():
    seqs = _sequences()
    calls = []

    def copy_last(context, num_future, seed):  # the "last frame" baseline
        calls.append(seed)
        return np.repeat(context[:, -1:], num_future, axis=1)

    result = prediction.best_of_n(copy_last, seqs, N_PAST, N_FUTURE, num_samples=1, batch_size=4)
    assert len(calls) == 2  # 6 sequences in batches of 4: one call each
    want_ssim, want_psnr = frame_scores(np.repeat(seqs[:, N_PAST - 1:N_PAST], N_FUTURE, 1),
                                        seqs[:, N_PAST:])
    np.testing.assert_allclose(result.ssim, want_ssim, rtol=1e-6)
    np.testing.assert_allclose(result.psnr, want_psnr, rtol=1e-6)
    summary = result.summary()
    assert summary["protocol"]["num_samples"] == 1
    assert summary["protocol"]["timesteps"] == [4, 5, 6, 7]
    mean = want_ssim.mean(axis=0)
    half = 1.959963984540054 * want_ssim.std(axis=0, ddof=1) / np.sqrt(len(seqs))
    np.testing.assert_allclose(summary["ssim"]["per_timestep"], mean, rtol=1e-6)
    np.testing.assert_allclose(summary["ssim"]["ci_low"], mean - half, rtol=1e-6)
    np.testing.assert_allclose(summary["ssim"]["ci_high"], mean + half, rtol=1e-6)


def test_best_of_n_keeps_the_best_sample_by_mean_ssim():
    seqs = _sequences()
    fn = _stochastic(seqs)
    one = prediction.best_of_n(fn, seqs, N_PAST, N_FUTURE, num_samples=1, seed=1)
    many = prediction.best_of_n(fn, seqs, N_PAST, N_FUTURE, num_samples=20, seed=1)
    # The kept sample is the best of all draws (one batch: batch index 0): recompute them.
    scores = np.stack([
        frame_scores(fn(seqs[:, :N_PAST], N_FUTURE, prediction.derive_seed(1, 0, s)),
                     seqs[:, N_PAST:])[0].mean(axis=1) for s in range(20)])
    np.testing.assert_array_equal(many.best_sample, scores.argmax(axis=0))
    np.testing.assert_allclose(many.ssim.mean(axis=1), scores.max(axis=0), rtol=1e-6)
    # Sample 0 is the same draw in both runs, so best of 20 >= 1 sample for every sequence.
    assert np.all(many.ssim.mean(axis=1) >= one.ssim.mean(axis=1) - 1e-7)
    assert many.ssim.mean() > one.ssim.mean()
    # The PSNR curve is the best-PSNR sample's (thesis: "the one with the best score"),
    # not the PSNR of the best-SSIM sample.
    psnrs = np.stack([
        frame_scores(fn(seqs[:, :N_PAST], N_FUTURE, prediction.derive_seed(1, 0, s)),
                     seqs[:, N_PAST:])[1].mean(axis=1) for s in range(20)])
    np.testing.assert_allclose(many.psnr.mean(axis=1), psnrs.max(axis=0), rtol=1e-6)
    # Same seed, same result.
    again = prediction.best_of_n(fn, seqs, N_PAST, N_FUTURE, num_samples=20, seed=1)
    np.testing.assert_array_equal(again.ssim, many.ssim)


def test_ssim_and_psnr_curves_each_keep_their_own_best_sample():
    """Sample 0 keeps the structure under a brightness offset (best SSIM, poor PSNR);
    sample 1 adds small noise (best PSNR, poor SSIM): each curve takes its own."""
    seqs = _sequences()
    rng = np.random.default_rng(0)
    calls = []

    def fn(context, num_future, seed):
        idx = [int(np.argmin(np.abs(seqs[:, :N_PAST] - c).sum(axis=(1, 2, 3, 4))))
               for c in context]
        truth = seqs[idx, N_PAST:N_PAST + num_future]
        calls.append(seed)
        if len(calls) % 2:
            return np.clip(truth + 0.3, -1, 1)
        return np.clip(truth + rng.normal(0, 0.2, truth.shape), -1, 1).astype(np.float32)

    result = prediction.best_of_n(fn, seqs, N_PAST, N_FUTURE, num_samples=2, batch_size=len(seqs))
    offset = frame_scores(np.clip(seqs[:, N_PAST:] + 0.3, -1, 1), seqs[:, N_PAST:])
    np.testing.assert_allclose(result.ssim, offset[0], rtol=1e-6)       # SSIM: sample 0
    assert np.all(result.psnr.mean(axis=1) > offset[1].mean(axis=1))   # PSNR: sample 1
    np.testing.assert_array_equal(result.best_sample, 0)                # select_by="ssim"


def test_select_by_psnr_and_examples():
    seqs = _sequences()
    result = prediction.best_of_n(_stochastic(seqs), seqs, N_PAST, N_FUTURE, num_samples=5,
                                  select_by="psnr", keep_examples=3)
    assert result.examples.shape == (3, N_PAST + N_FUTURE, 16, 16, 3)
    np.testing.assert_array_equal(result.examples[:, :N_PAST], seqs[:3, :N_PAST])
    np.testing.assert_array_equal(result.truths, seqs[:3])
    assert "PSNR" in result.summary()["protocol"]["select_by"]


def test_json_and_plot(tmp_path):
    seqs = _sequences()
    stochastic = prediction.best_of_n(_stochastic(seqs), seqs, N_PAST, N_FUTURE, num_samples=5)
    baseline = prediction.best_of_n(lambda c, n, s: np.repeat(c[:, -1:], n, 1), seqs, N_PAST,
                                    N_FUTURE, num_samples=1)
    path = prediction.plot({"stochastic": stochastic, "deterministic": baseline},
                           str(tmp_path / "curves.png"), trained_horizon=N_PAST + 2)
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    stochastic.to_json(str(tmp_path / "p.json"))
    data = json.load(open(tmp_path / "p.json"))
    assert len(data["psnr"]["per_timestep"]) == N_FUTURE
    assert data["protocol"]["num_sequences"] == 6
    # One sequence: no CI (null in JSON), the plot still works.
    single = prediction.best_of_n(_stochastic(seqs), seqs[:1], N_PAST, N_FUTURE, num_samples=2)
    assert single.summary()["ssim"]["ci_low"] == [None] * N_FUTURE
    prediction.plot({"one": single}, str(tmp_path / "one.png"))


def test_curves_of_several_reports_in_one_plot(tmp_path):
    """Figure 6.5's overlay: curves read back from bin/evaluate reports draw the same
    figure as the results they came from."""
    seqs = _sequences()
    stochastic = prediction.best_of_n(_stochastic(seqs), seqs, N_PAST, N_FUTURE, num_samples=5)
    single = prediction.best_of_n(_stochastic(seqs), seqs[:1], N_PAST, N_FUTURE, num_samples=2)
    paths = {}
    for name, result in (("lp", stochastic), ("one", single)):
        paths[name] = str(tmp_path / f"{name}.json")
        with open(paths[name], "w") as f:
            json.dump({"metrics": {}, "details": {"ssim": result.summary()}}, f)
    loaded = {name: prediction.load_summary(path) for name, path in paths.items()}
    assert loaded["lp"]["ssim"]["per_timestep"] == stochastic.summary()["ssim"]["per_timestep"]
    direct = prediction.plot({"lp": stochastic, "one": single}, str(tmp_path / "a.png"),
                             trained_horizon=N_PAST + 2)
    read = prediction.plot_summaries(loaded, str(tmp_path / "b.png"), trained_horizon=N_PAST + 2)
    assert open(direct, "rb").read() == open(read, "rb").read()
    with open(tmp_path / "fd.json", "w") as f:
        json.dump({"metrics": {}, "details": {"fd": {}}}, f)
    with pytest.raises(ValueError, match="--metrics=ssim"):
        prediction.load_summary(str(tmp_path / "fd.json"))


def test_bad_inputs():
    seqs = _sequences()
    with pytest.raises(ValueError, match="expected"):
        prediction.best_of_n(lambda c, n, s: c, seqs, N_PAST, N_FUTURE, num_samples=1)
    with pytest.raises(ValueError, match="n_past \\+ n_future"):
        prediction.best_of_n(lambda c, n, s: c, seqs[:, :5], N_PAST, N_FUTURE)


def test_task_predictor_requires_predict():
    class NoPredict:
        pass

    with pytest.raises(ValueError, match="predict"):
        prediction.task_predictor(NoPredict())

    class Fake:
        def predict(self, context, num_future, noise):
            import tensorflow as tf
            return tf.repeat(context[:, -1:], num_future, axis=1) + 0 * noise.normal([1])

    fn = prediction.task_predictor(Fake())
    seqs = _sequences()
    out = fn(seqs[:2, :N_PAST], N_FUTURE, 7)
    assert out.shape == (2, N_FUTURE, 16, 16, 3)
