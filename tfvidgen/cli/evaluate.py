"""bin/evaluate: scores a trained run (or an export) with the seeds' protocols.

    bin/evaluate --model_dir=runs/rjgan --metrics=fd,is --extractor=i3d --i3d_path=/data/i3d
    bin/evaluate --model_dir=runs/rjgan --metrics=is --extractor=classifier:runs/expr_clf
    bin/evaluate --model_dir=runs/rjgan --metrics=parzen,parzen_ms,nn --output=report.json
    bin/evaluate --model_dir=runs/drnet_lstm_kth --metrics=is_offset \
        --extractor=classifier:runs/kth_stacked2d --prediction_future=100
    bin/evaluate --export_dir=exports/rjgan/3000 --dataset=mug --data_dir=/data/MUG --metrics=fd

Writes the JSON report (``--output``, default <model_dir>/evaluation/report.json),
plots next to it, and the scalars into TensorBoard under <model_dir>/eval/
at the checkpoint's step. See docs/evaluation.md.
"""
from __future__ import annotations

import logging
import os
import sys

import tfvidgen  # noqa: F401  (sets TF_ENABLE_ONEDNN_OPTS before TensorFlow loads)
from absl import app, flags

from tfvidgen import flags as tfv_flags
from tfvidgen.cli.common import fail

FLAGS = tfv_flags.FLAGS

flags.DEFINE_list("metrics", ["fd", "is"],
                  "Comma-separated metrics: fd, is, is_real, is_offset (IS of predicted "
                  "windows against their offset), ssim (with psnr: the prediction protocol), "
                  "parzen, parzen_ms, nn; a metric may name its own extractor, e.g. "
                  "fd@classifier:runs/expr_classifier.")
flags.DEFINE_string("output", None,
                    "JSON report path (plots are written next to it); default "
                    "<model_dir>/evaluation/report.json.")
flags.DEFINE_integer("num_videos", 624,
                     "fd: real and generated samples, each (seed 003: 624 videos).")
flags.DEFINE_integer("num_frames", None,
                     "Clip length for fd/is/nn/parzen on videos (default: the extractor's, "
                     "else the model's default length).")
flags.DEFINE_string("extractor", "i3d",
                    "Feature extractor of fd/is (and nn's feature space): i3d (--i3d_path), "
                    "c3d (--c3d_path), classifier:<folder from bin/train_evaluator>.")
flags.DEFINE_integer("is_splits", 10, "is: number of splits (seed 003: 10).")
flags.DEFINE_integer("is_split_size", 128, "is: samples per split (seed 003: 128).")
flags.DEFINE_integer("eval_seed", 0, "Seed of every sample and real-data draw.")
flags.DEFINE_integer("eval_batch_size", 32, "Samples generated per call.")
flags.DEFINE_string("eval_split", "test",
                    "Held-out split for ssim and parzen (the training videos when the "
                    "dataset has none; the report says which).")
flags.DEFINE_integer("prediction_past", None,
                     "ssim, is_offset: context frames given to the predictor (default: the "
                     "run's --n_past).")
flags.DEFINE_integer("prediction_future", None,
                     "ssim, is_offset: predicted frames scored (default: the run's --n_eval - "
                     "--n_past, else its --n_future, else 10).")
flags.DEFINE_integer("num_prediction_samples", 100,
                     "ssim: futures drawn per test sequence, the best kept (1: deterministic).")
flags.DEFINE_integer("num_test_sequences", 256, "ssim: held-out sequences scored.")
flags.DEFINE_enum("prediction_select_by", "ssim", ["ssim", "psnr"],
                  "ssim: the score that picks the best sample (seed 002: ssim).")
flags.DEFINE_integer("is_offset_stride", 5,
                     "is_offset: offset between the windows scored (1: every window).")
flags.DEFINE_integer("parzen_samples", 50000,
                     "parzen: generated samples (window centres; the thesis' Table 4.1: 50,000). "
                     "The metric's name carries the count (parzen_frames_50000s).")
flags.DEFINE_integer("parzen_heldout", 500, "parzen: validation and test items, each.")
flags.DEFINE_enum("parzen_unit", "frames", ["frames", "videos"],
                  "parzen: density of single frames (seed 002) or of whole clips.")
flags.DEFINE_integer("parzen_levels", 2, "parzen_ms: pyramid levels K.")
flags.DEFINE_integer("parzen_ms_samples", 1000,
                     "parzen_ms: N_0, the samples per level (a LAPGAN draws N_0 refinements "
                     "per held-out image and level; the thesis does not give N_0).")
flags.DEFINE_integer("nn_samples", 16, "nn: generated samples (rows of the grid).")
flags.DEFINE_integer("nn_k", 5, "nn: neighbours per sample.")
flags.DEFINE_enum("nn_unit", "videos", ["frames", "videos"], "nn: compare frames or clips.")
flags.DEFINE_integer("nn_max_train_items", 0,
                     "nn: search at most this many training items (0: all).")
flags.DEFINE_bool("write_summaries", True, "Write the scalars to TensorBoard (eval/).")

try:  # --i3d_path, --c3d_path, --c3d_mean_path, defined with the extractors
    from tfvidgen.metrics.extractors import define_flags as _define_extractor_flags
except ImportError:  # pragma: no cover  (extractors not installed)
    def _define_extractor_flags():
        for name in ("i3d_path", "c3d_path", "c3d_mean_path"):
            if name not in FLAGS:
                flags.DEFINE_string(name, None, f"Weights of the {name[:3]} extractor.")
_define_extractor_flags()


def _export_dir_given(argv) -> bool:
    """--export_dir on the command line (not from the run's flags.txt) selects an export."""
    return any(a == "--export_dir" or a.startswith("--export_dir=") for a in argv[1:])


def config_from_flags():
    from tfvidgen.evaluate import EvalConfig
    return EvalConfig(
        metrics=tuple(FLAGS.metrics), num_videos=FLAGS.num_videos, num_frames=FLAGS.num_frames,
        extractor=FLAGS.extractor, i3d_path=FLAGS.i3d_path, c3d_path=FLAGS.c3d_path,
        c3d_mean_path=FLAGS.c3d_mean_path, is_splits=FLAGS.is_splits,
        is_split_size=FLAGS.is_split_size, seed=FLAGS.eval_seed,
        batch_size=FLAGS.eval_batch_size, eval_split=FLAGS.eval_split,
        n_past=FLAGS.prediction_past, n_future=FLAGS.prediction_future,
        num_prediction_samples=FLAGS.num_prediction_samples,
        num_test_sequences=FLAGS.num_test_sequences,
        prediction_select_by=FLAGS.prediction_select_by,
        is_offset_stride=FLAGS.is_offset_stride, parzen_samples=FLAGS.parzen_samples,
        parzen_heldout=FLAGS.parzen_heldout, parzen_unit=FLAGS.parzen_unit,
        parzen_levels=FLAGS.parzen_levels,
        parzen_ms_samples=FLAGS.parzen_ms_samples, nn_samples=FLAGS.nn_samples, nn_k=FLAGS.nn_k,
        nn_unit=FLAGS.nn_unit, nn_max_train_items=FLAGS.nn_max_train_items)


def main(argv, use_export=False):
    if len(argv) > 1:
        fail(f"unexpected arguments {argv[1:]}: flags are written --name=value.")
    from tfvidgen import evaluate, experiment, runs
    from tfvidgen.data.sources import DatasetMissingError

    logging.getLogger().setLevel(logging.INFO)
    model_dir = FLAGS.model_dir
    if not model_dir and not use_export:
        fail("pass --model_dir (a bin/train run) or --export_dir (a bin/export SavedModel).")
    if model_dir and not os.path.exists(experiment.flags_file(model_dir)):
        fail(f"{model_dir} has no flags.txt: is it a bin/train run directory?")
    for name in ("num_videos", "is_splits", "is_split_size", "eval_batch_size",
                 "prediction_past", "prediction_future", "num_prediction_samples",
                 "num_test_sequences", "is_offset_stride", "parzen_samples", "parzen_heldout",
                 "parzen_levels", "nn_samples", "nn_k", "parzen_ms_samples"):
        if FLAGS[name].value is not None and FLAGS[name].value < 1:
            fail(f"--{name} must be a positive integer.")
    try:
        values = experiment.run_values(FLAGS)
    except (FileNotFoundError, ValueError) as e:
        fail(str(e))
    config = config_from_flags()
    try:
        evaluate.parse_metric_specs(config.metrics)  # unknown names fail before any work
        if use_export:
            sampler = evaluate.SavedModelSampler(
                evaluate.find_saved_model(FLAGS.export_dir, FLAGS.model_name),
                config.batch_size)
            step = int(os.path.basename(os.path.normpath(sampler.path))) \
                if os.path.basename(os.path.normpath(sampler.path)).isdigit() else 0
            source = {"export_dir": sampler.path, "model_dir": model_dir,
                      "dataset": values["dataset"]}
            data = None
        else:
            task, data, step, _ = runs.load_run(model_dir, values)
            sampler = evaluate.TaskSampler(task, config.batch_size, name=values["model"])
            source = {"model_dir": model_dir, "model": values["model"],
                      "dataset": values["dataset"]}
        output = FLAGS.output or os.path.join(
            model_dir or os.path.dirname(os.path.normpath(sampler.path)),
            "evaluation", "report.json")
        log_dir = None
        if FLAGS.write_summaries:
            log_dir = os.path.join(model_dir, "eval") if model_dir else os.path.join(
                os.path.dirname(os.path.abspath(output)), "eval")
        report = evaluate.evaluate(sampler, config, values=values, data=data, output=output,
                                   step=step, log_dir=log_dir, source=source)
    except (evaluate.MetricUnavailable, DatasetMissingError, FileNotFoundError, ValueError) as e:
        fail(str(e))
    for name, value in report["metrics"].items():
        print(f"{name}: {value:.6g}")
    print(f"report: {output}", file=sys.stderr)
    for path in report["files"].values():
        print(f"file: {path}", file=sys.stderr)
    if log_dir:
        print(f"TensorBoard: {log_dir} (step {step})", file=sys.stderr)


def run():
    use_export = _export_dir_given(sys.argv)
    app.run(lambda argv: main(argv, use_export))


if __name__ == "__main__":
    run()
