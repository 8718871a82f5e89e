"""The evaluation library and bin/evaluate: protocols on tiny models, reports, eval/ events."""
import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from helpers import ROOT, TINY_GAN_FLAGS, run_bin, tiny_data, tiny_task
from tfvidgen import evaluate, experiment
from tfvidgen.data import pipeline
from tfvidgen.evaluate.context import real_clips
from tfvidgen.metrics import prediction
from tfvidgen.train.loop import TrainConfig, Trainer

TINY = TINY_GAN_FLAGS
run = run_bin
CHEAP = ["--num_videos=8", "--is_splits=2", "--is_split_size=4", "--parzen_samples=40",
         "--parzen_ms_samples=40", "--parzen_heldout=12", "--nn_samples=3", "--nn_k=2"]


def scalars(log_dir):
    """{tag: [(step, value)]} of the scalar summaries in a TensorBoard folder."""
    acc = EventAccumulator(log_dir, size_guidance={"tensors": 0})
    acc.Reload()
    out = {}
    for tag in acc.Tags()["tensors"]:
        events = acc.Tensors(tag)
        if events and events[0].tensor_proto.dtype == tf.float32.as_datatype_enum:
            out[tag] = [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in events]
    return out


def image_tags(log_dir):
    acc = EventAccumulator(log_dir, size_guidance={"tensors": 0})
    acc.Reload()
    return [t for t in acc.Tags()["tensors"]
            if acc.Tensors(t)[0].tensor_proto.dtype == tf.string.as_datatype_enum]


class FakeExtractor:
    """Duck-typed extractor: per-channel means and a 3-way 'classifier' on them."""
    name, kind, num_frames = "fake", "video", None

    def activations(self, videos):
        v = np.asarray(videos, np.float32) / 255.0
        return np.concatenate([v.mean(axis=(1, 2, 3)), v.std(axis=(1, 2, 3))], axis=1)

    def logits(self, videos):
        return 4.0 * self.activations(videos)[:, :3]


class FakePredictor:
    """A Task-like predictor: copies the last context frame, plus noise of random size."""
    default_num_frames = 6

    def __init__(self, stochastic=True):
        self.stochastic = stochastic

    def predict(self, context, num_future, noise):
        last = tf.repeat(context[:, -1:], num_future, axis=1)
        if not self.stochastic:
            return last
        scale = noise.uniform([], 0.0, 0.3)
        return tf.clip_by_value(last + scale * noise.normal(tf.shape(last)), -1.0, 1.0)

    def sample(self, noise, num_videos, num_frames):
        return noise.uniform([num_videos, num_frames, 16, 16, 3], -1.0, 1.0)

    def sample_images(self, noise, num_images):
        return self.sample(noise, num_images, 1)[:, 0]


def test_metric_specs():
    assert evaluate.parse_metric_specs("fd,is@classifier:runs/c, psnr,fvd") == [
        ("fd", None), ("is", "classifier:runs/c"), ("ssim", None)]
    with pytest.raises(ValueError, match="unknown metric 'fidd'"):
        evaluate.parse_metric_specs("fidd")


def test_metric_names_load_no_tensorflow_and_match_the_protocols():
    import subprocess
    import sys
    code = ("import sys; from tfvidgen.evaluate import check_train_metrics; "
            "check_train_metrics('parzen,nn,fd@classifier:x'); "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    assert set(evaluate.PROTOCOLS) == set(evaluate.BUILTIN_PROTOCOLS)


def test_fd_is_parzen_nn_on_a_task(tmp_path):
    task, data = tiny_task("mocogan")
    task.build()
    sampler = evaluate.TaskSampler(task, batch_size=4, name="mocogan")
    config = evaluate.EvalConfig(
        metrics=("fd", "is", "parzen", "parzen_ms", "nn"), num_videos=6, extractor=FakeExtractor(),
        is_splits=2, is_split_size=3, parzen_samples=20, parzen_ms_samples=20, parzen_heldout=6,
        parzen_levels=1, nn_samples=2, nn_k=2)
    output = str(tmp_path / "out" / "report.json")
    report = evaluate.evaluate(sampler, config, data=data, output=output, step=7,
                               log_dir=str(tmp_path / "eval"), source={"model": "mocogan"})
    names = set(report["metrics"])
    assert names == {"fd_fake_6v_10f", "is_fake_2x3_10f", "is_fake_2x3_10f_std",
                     "parzen_frames_20s", "parzen_ms1_frames_20s", "nn_pixel_videos10f_2s",
                     "nn_fake_videos10f_2s"}
    on_disk = json.load(open(output))
    assert on_disk["metrics"] == pytest.approx(report["metrics"])
    assert on_disk["source"] == {"model": "mocogan", "step": 7}
    assert on_disk["details"]["fd"]["num_real"] == on_disk["details"]["fd"]["num_generated"] == 6
    assert "training videos" in on_disk["details"]["parzen"]["heldout"]  # no held-out split here
    assert os.path.exists(on_disk["files"]["nn_pixel_grid"])
    assert os.path.exists(on_disk["files"]["nn_feature_grid"])
    logged = scalars(str(tmp_path / "eval"))
    assert set(logged) == names and logged["fd_fake_6v_10f"][0][0] == 7
    assert "nearest_neighbours/pixel" in image_tags(str(tmp_path / "eval"))
    # Same seed, same numbers.
    again = evaluate.evaluate(sampler, config, data=data)
    assert again["metrics"] == pytest.approx(report["metrics"])


def test_fd_uses_equal_counts_of_real_and_generated_clips():
    task, data = tiny_task("rjgan")
    task.build()
    seen = []

    class Recording(FakeExtractor):
        def activations(self, videos):
            seen.append(np.asarray(videos).shape)
            return super().activations(videos)

    config = evaluate.EvalConfig(metrics=("fd",), num_videos=5, num_frames=4,
                                 extractor=Recording())
    evaluate.evaluate(evaluate.TaskSampler(task, batch_size=2), config, data=data)
    assert seen == [(5, 4, 16, 16, 3), (5, 4, 16, 16, 3)]


def test_fd_reference_set_is_the_datasets_whatever_the_run_trained_on():
    """seed 003's mixed-data run (half the videos broken into frames) and a run on all
    videos are scored against the same real clips: every video of the dataset."""
    from tfvidgen.data import pipeline
    from tfvidgen.data.sources import ArraySource
    from conftest import make_videos
    task, _ = tiny_task("rjgan")
    task.build()
    videos, labels = make_videos(8, 12, 16)
    source = ArraySource(videos, labels, class_names=("a", "b", "c"))
    seen = {}

    class Recording(FakeExtractor):
        def activations(self, clips):
            seen.setdefault(self.run, []).append(np.asarray(clips))
            return super().activations(clips)

    reports = {}
    for run, fraction in (("all", 0.0), ("mixed", 0.5)):
        data = pipeline.split_sources(source, broken_fraction=fraction, seed=0)
        extractor = Recording()
        extractor.run = run
        config = evaluate.EvalConfig(metrics=("fd",), num_videos=16, num_frames=4,
                                     extractor=extractor)
        reports[run] = evaluate.evaluate(evaluate.TaskSampler(task, batch_size=4), config,
                                         data=data)
    assert len(pipeline.split_sources(source, broken_fraction=0.5, seed=0).videos) == 4
    np.testing.assert_array_equal(seen["all"][0], seen["mixed"][0])  # the same real clips
    drawn = {int(v) // 20 for v in np.unique(seen["mixed"][0][:, 0, 0, 0, 0])}  # video index
    assert len(drawn) > 4  # more videos than the mixed run's D_V had
    (details,) = [d for d in reports["mixed"]["details"].values()]
    assert "all 8 videos" in details["real"]


def test_prediction_protocol_with_a_fake_predictor(tmp_path):
    data = tiny_data(num_videos=6, frames=12)
    config = evaluate.EvalConfig(metrics=("ssim",), n_past=3, n_future=4,
                                 num_prediction_samples=5, num_test_sequences=6, batch_size=4)
    output = str(tmp_path / "report.json")
    report = evaluate.evaluate(evaluate.TaskSampler(FakePredictor(), name="fake"), config,
                               data=data, output=output, step=3, log_dir=str(tmp_path / "eval"))
    assert set(report["metrics"]) == {"ssim_bestof5_3p4f", "psnr_bestof5_3p4f"}
    details = json.load(open(output))["details"]["ssim"]
    assert details["protocol"]["num_sequences"] == 6
    assert len(details["ssim"]["per_timestep"]) == 4 and len(details["psnr"]["ci_high"]) == 4
    assert details["ssim"]["mean"] == pytest.approx(report["metrics"]["ssim_bestof5_3p4f"])
    # The still reference: the last context frame repeated, scored on the same sequences.
    still = details["copy_last_frame"]
    assert still["protocol"]["num_samples"] == 1 and still["protocol"]["num_sequences"] == 6
    clips = real_clips(pipeline.split_sources(data.videos, seed=0), 6, 7, 0) / 127.5 - 1.0
    expected = prediction.best_of_n(prediction.copy_last_frame, clips.astype(np.float32), 3, 4,
                                    num_samples=1).summary()
    np.testing.assert_allclose(still["psnr"]["per_timestep"], expected["psnr"]["per_timestep"],
                               rtol=1e-5)
    with open(report["files"]["prediction_plot"], "rb") as f:
        assert f.read(4) == b"\x89PNG"
    assert os.path.exists(report["files"]["prediction_examples"])
    assert "prediction/ssim_psnr" in image_tags(str(tmp_path / "eval"))
    # A deterministic predictor is scored with one sample (the seed's baseline).
    det = evaluate.evaluate(evaluate.TaskSampler(FakePredictor(stochastic=False)), config,
                            data=data)
    assert set(det["metrics"]) == {"ssim_bestof1_3p4f", "psnr_bestof1_3p4f"}


def test_unavailable_metrics_fail_before_any_work():
    task, data = tiny_task("rjgan")
    task.build()
    sampler = evaluate.TaskSampler(task)
    with pytest.raises(evaluate.MetricUnavailable, match="predict"):
        evaluate.evaluate(sampler, evaluate.EvalConfig(metrics=("parzen", "ssim")), data=data)
    with pytest.raises(evaluate.MetricUnavailable, match="extractor"):
        evaluate.evaluate(sampler, evaluate.EvalConfig(metrics=("fd",), extractor=None),
                          data=data)


def test_trainer_hook_writes_eval_scalars_and_leaves_training_alone(tmp_path, cpu_strategy):
    def trainer(model_dir, hooks=()):
        task, data = tiny_task("rjgan")
        config = TrainConfig(model_dir=str(model_dir), max_steps=3, batch_size=2,
                             summary_every=1, sample_every=100, checkpoint_every=100,
                             num_samples=2)
        return Trainer(task, data, config, cpu_strategy(1), hooks=hooks)

    hook = evaluate.make_train_hook("parzen,nn", parzen_samples=16, parzen_heldout=6,
                                    nn_samples=2)
    with_eval = trainer(tmp_path / "a", hooks=[(2, hook)]).train()
    logged = scalars(str(tmp_path / "a" / "eval"))
    assert set(logged) == {"parzen_frames_16s", "nn_pixel_videos10f_2s"}
    assert [s for s, _ in logged["parzen_frames_16s"]] == [2, 3]  # every 2 steps and the last
    # Evaluation draws stateless noise only: the same losses as a run without it.
    without = trainer(tmp_path / "b").train()
    assert with_eval == pytest.approx(without, rel=1e-6)


def test_trainer_hook_checks_metrics_and_survives_errors(caplog):
    with pytest.raises(ValueError, match="fd@classifier"):
        evaluate.make_train_hook("parzen,fd")
    task, data = tiny_task("rjgan")
    with pytest.raises(evaluate.MetricUnavailable, match="predict"):
        evaluate.make_train_hook("ssim", task=task, data=data)
    hook = evaluate.make_train_hook("parzen", task=task, data=data, parzen_unit="pixels")

    class FakeTrainer:
        pass

    assert hook(FakeTrainer(), 5) == {}  # logged, not raised
    assert "evaluation at step 5 failed" in caplog.text


# End to end: bin/train, bin/evaluate, bin/export, bin/two_afc ----------------------------
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run_dir = str(tmp_path_factory.mktemp("evaluate") / "run")
    run("train", "--model=rjgan", *TINY, "--max_steps=2", f"--model_dir={run_dir}",
        "--eval_every=1", "--eval_metrics=parzen", "--export_after_training")
    return run_dir


def test_train_with_eval_every(tiny_run):
    logged = scalars(os.path.join(tiny_run, "eval"))
    assert [s for s, _ in logged["parzen_frames_500s"]] == [1, 2]
    assert "--eval_every=1" in open(os.path.join(tiny_run, "flags.txt")).read()


def test_bin_evaluate_end_to_end(tiny_run, tmp_path):
    metrics = "parzen,parzen_ms,nn"
    extra = []
    try:
        from tfvidgen.metrics import classifiers
    except ImportError:
        classifiers = None
    if classifiers is not None:  # fd and is with a tiny dataset classifier
        from tfvidgen import experiment
        values = evaluate.read_flags_file(os.path.join(tiny_run, "flags.txt"))
        classifiers.train_classifier(experiment.build_source(values), "image",
                                     str(tmp_path / "clf"), steps=2, batch_size=4, width=4)
        metrics += ",fd,is"
        extra = [f"--extractor=classifier:{tmp_path / 'clf'}"]
    output = str(tmp_path / "report" / "report.json")
    proc = run("evaluate", f"--model_dir={tiny_run}", f"--metrics={metrics}", *CHEAP, *extra,
               f"--output={output}")
    report = json.load(open(output))
    assert report["source"]["model"] == "rjgan" and report["source"]["step"] == 2
    names = set(report["metrics"])
    assert {"parzen_frames_40s", "parzen_ms2_frames_40s", "nn_pixel_videos10f_3s"} <= names
    if classifiers is not None:
        assert any(n.startswith("fd_") and n.endswith("_8i") for n in names)
        assert any(n.startswith("is_") and n.endswith("_2x4") for n in names)
    for name, value in report["metrics"].items():
        assert np.isfinite(value), name
        assert f"{name}: " in proc.stdout
    assert os.path.exists(report["files"]["nn_pixel_grid"])
    # Scalars under the run's eval/ at the checkpoint's step, beside the --eval_every ones.
    logged = scalars(os.path.join(tiny_run, "eval"))
    assert names <= set(logged)
    want = report["metrics"]["parzen_frames_40s"]
    assert logged["parzen_frames_40s"] == [(2, pytest.approx(want))]


def test_bin_evaluate_an_export(tiny_run, tmp_path):
    export = glob.glob(os.path.join(tiny_run, "export", "rjgan", "*"))[0]
    output = str(tmp_path / "report.json")
    data_flags = [f for f in TINY if f.split("=")[0] in (  # run-level flags only
        "--dataset", "--synthetic_identities", "--synthetic_takes", "--synthetic_video_length",
        "--image_size")]
    run("evaluate", f"--export_dir={os.path.join(tiny_run, 'export')}", *data_flags,
        "--metrics=nn,parzen", *CHEAP, f"--output={output}")
    report = json.load(open(output))
    assert report["source"]["export_dir"] == export and report["source"]["step"] == 2
    assert set(report["metrics"]) == {"parzen_frames_40s", "nn_pixel_videos10f_3s"}
    assert scalars(str(tmp_path / "eval"))  # no run directory: events next to the report


def test_bin_evaluate_errors(tiny_run, tmp_path):
    proc = run("evaluate", f"--model_dir={tiny_run}", "--metrics=ssim", check=False)
    assert proc.returncode == 2 and "predict" in proc.stderr and "Traceback" not in proc.stderr
    proc = run("evaluate", f"--model_dir={tiny_run}", "--metrics=fd", "--extractor=i3d",
               f"--i3d_path={tmp_path}/nowhere", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "i3d" in proc.stderr.lower()
    proc = run("train", *TINY, f"--model_dir={tmp_path}/r", "--eval_every=1",
               "--eval_metrics=parzen,fd", check=False)
    assert proc.returncode != 0 and "--eval_metrics" in proc.stderr and "fd@" in proc.stderr


def test_two_afc_kit_from_runs(tiny_run, tmp_path):
    kit = str(tmp_path / "kit")
    proc = run("two_afc", "make", f"--model_a={tiny_run}", f"--model_b={tiny_run}",
               "--name_a=early", "--name_b=late", f"--kit_dir={kit}", "--num_pairs=4",
               "--workers_per_task=2", "--seed=1")
    assert "4 tasks" in proc.stdout
    manifest = json.load(open(os.path.join(kit, "manifest.json")))
    assert manifest["model_a"] == "early" and manifest["sources"]["early"]["step"] == 2
    assert len(os.listdir(os.path.join(kit, "media"))) == 8
    with open(os.path.join(kit, "answers.csv"), "w") as f:
        f.write("task_id,worker_id,choice\n")
        for t in manifest["tasks"]:
            f.write(f"{t['task_id']},w1,{'left' if t['left'] == 'early' else 'right'}\n")
    proc = run("two_afc", "tally", f"--kit_dir={kit}", f"--answers={kit}/answers.csv")
    assert "100.0% of 4 judgements" in proc.stdout


# Conditional models: samples continue held-out real clips ---------------------------------
SVG_FLAGS = ["--model=svg_lp", "--dataset=smmnist", "--image_size=16", "--encoder_width=4",
             "--g_dim=8", "--z_dim=2", "--rnn_size=8", "--n_past=2", "--n_future=2",
             "--n_eval=4", "--synthetic_video_length=6", "--batch_size=2", "--max_steps=1",
             "--summary_every=1", "--sample_every=100", "--num_samples=2"]


@pytest.fixture(scope="module")
def svg_run(tmp_path_factory):
    from helpers import train_run
    run_dir = str(tmp_path_factory.mktemp("svg") / "run")
    train_run(SVG_FLAGS, run_dir)
    return run_dir


def test_svg_evaluation_conditions_on_held_out_real_context(svg_run, tmp_path):
    from tfvidgen import runs
    from tfvidgen.data import pipeline
    task, data, step, values = runs.load_run(svg_run)
    sampler = evaluate.TaskSampler(task, batch_size=4, name="svg_lp")
    drawn = []
    for kind in ("videos", "images"):
        def record(*args, _inner=getattr(sampler, kind), _kind=kind, **kwargs):
            out = _inner(*args, **kwargs)
            drawn.append((_kind, kwargs.get("context"), out))
            return out
        setattr(sampler, kind, record)
    config = evaluate.EvalConfig(
        metrics=("fd", "parzen", "nn"), num_videos=4, extractor=FakeExtractor(),
        parzen_samples=6, parzen_heldout=4, parzen_unit="videos", nn_samples=3, nn_k=1,
        nn_max_train_items=10)
    report = evaluate.evaluate(sampler, config, values=values, data=data)
    assert {"fd_fake_4v_4f", "parzen_videos4f_6s", "nn_pixel_videos4f_3s"} <= \
        set(report["metrics"])
    for key in ("fd", "parzen", "nn"):
        assert "'test' split" in report["details"][key]["conditioning"], key
    assert [k for k, _, _ in drawn] == ["videos", "videos", "videos"]  # fd, parzen, nn
    # fd and nn: the first n_past frames of clips of the held-out (test) split.
    test = experiment.build_source({**values, "split": "test"})
    expected = evaluate.real_clips(pipeline.split_sources(test, seed=0), 4, 2, 3)
    train = evaluate.real_clips(data, 4, 2, 3)
    for (_, context, videos), n in zip([drawn[0], drawn[2]], (4, 3)):
        np.testing.assert_array_equal(context, expected[:n])
        np.testing.assert_array_equal(videos[:, :2], context[:, :2])  # real frames first
        assert videos.shape == (n, 4, 16, 16, 3)
        assert (videos[:, :2].reshape(n, -1).max(axis=1) > 100).all()  # digits, not black
        assert not np.array_equal(context, train[:n])  # not the training data
    # parzen: clips of the validation half, so the scored test half stays unseen.
    _, parzen_context, parzen_videos = drawn[1]
    np.testing.assert_array_equal(parzen_videos[:, :2], parzen_context[:, :2])
    assert "validation half" in report["details"]["parzen"]["conditioning"]
    # Frames (parzen's default unit) are predicted frames after held-out context.
    images, note = evaluate.Context(sampler, config, values=values, data=data) \
        .generated_images(3)
    assert images.shape == (3, 16, 16, 3) and "'test' split" in note
    _, image_context, _ = drawn[-1]
    assert image_context.shape == (3, 2, 16, 16, 3)
    # Without context a prediction model's sampler refuses to sample.
    with pytest.raises(evaluate.MetricUnavailable, match="continue the first 2 frames"):
        evaluate.TaskSampler(task).videos(2, 4, seed=0)


def test_a_prediction_export_samples_through_predict_like_the_run(svg_run, tmp_path):
    from tfvidgen import export, runs
    task, data, _, _ = runs.load_run(svg_run)
    path = export.export(task, str(tmp_path), "svg_lp", 1, warmup_batch_sizes=())
    saved = evaluate.SavedModelSampler(path, batch_size=2)
    in_process = evaluate.TaskSampler(task, batch_size=2)
    assert saved.default_num_frames == in_process.default_num_frames == 4
    assert saved.context_length(4) == in_process.context_length(4) == 2
    context = evaluate.real_clips(data, 3, 2, seed=1)
    videos = saved.videos(3, 4, seed=0, context=context)
    np.testing.assert_array_equal(videos[:, :2], context)
    np.testing.assert_array_equal(videos, in_process.videos(3, 4, seed=0, context=context))
    np.testing.assert_array_equal(saved.images(3, seed=0, context=context),
                                  in_process.images(3, seed=0, context=context))
    with pytest.raises(evaluate.MetricUnavailable, match="conditional"):
        saved.videos(3, 4, seed=0)
