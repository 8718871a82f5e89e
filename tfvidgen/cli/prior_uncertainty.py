"""bin/prior_uncertainty: Figure 6.4 of seed 002 for a trained SVG-LP run.

    bin/prior_uncertainty --model_dir=runs/svg_lp_smmnist
    bin/prior_uncertainty --model_dir=runs/svg_lp_smmnist --num_trajectories=3 \\
        --sequences_per_trajectory=500 --num_frames=100 --output=fig6_4/prior.json

Feeds sequences with synchronised trajectories (the same motion, different
digits of --split) through the run's learned prior p_psi(z_t | x_1:t-1),
teacher-forced on the real frames, and plots the mean sigma_psi over time
with vertical lines at the collision frames (one panel per trajectory).
Writes the JSON report (--output, default
<model_dir>/evaluation/prior_uncertainty.json) and the PNG next to it, and
prints the summary: mean sigma right after collisions / elsewhere (the
``ratio``; > 1 when the prior predicts the collisions) and the peak
precision. See docs/prediction.md.
"""
from __future__ import annotations

import os
import sys

import tfvidgen  # noqa: F401  (sets TF_ENABLE_ONEDNN_OPTS before TensorFlow loads)
from absl import flags

from tfvidgen.cli.common import fail, run_tool

FLAGS = flags.FlagValues()
flags.DEFINE_string("model_dir", None, "A bin/train run of --model=svg_lp (required).",
                    flag_values=FLAGS)
flags.DEFINE_string("output", None,
                    "JSON report; the PNG is written next to it (same name, .png). Default "
                    "<model_dir>/evaluation/prior_uncertainty.json.", flag_values=FLAGS)
flags.DEFINE_integer("num_trajectories", 3, "Trajectories (panels of the plot).",
                     flag_values=FLAGS)
flags.DEFINE_integer("sequences_per_trajectory", 100,
                     "Sequences per trajectory, each with other digits (the paper: 500).",
                     flag_values=FLAGS)
flags.DEFINE_integer("num_frames", 100, "Frames per sequence (the paper: 100).",
                     flag_values=FLAGS)
flags.DEFINE_string("split", "test", "Digits of this split (test: digits unseen in training).",
                    flag_values=FLAGS)
flags.DEFINE_integer("seed", 0, "Seed of the trajectories and digits.", flag_values=FLAGS)
flags.DEFINE_integer("batch_size", 32, "Sequences encoded per call.", flag_values=FLAGS)
flags.DEFINE_integer("warmup", 2, "First steps t = 1..warmup left out of the summary.",
                     flag_values=FLAGS)
flags.DEFINE_string("dataset", None,
                    "SM-MNIST variant whose motion rules are used (default: the run's "
                    "--dataset), e.g. smmnist1 for one digit.", flag_values=FLAGS)
flags.DEFINE_string("data_dir", None, "MNIST digits (default: the run's --data_dir).",
                    flag_values=FLAGS)


def main():
    from tfvidgen import experiment, runs
    from tfvidgen.data.moving_mnist import StochasticMovingMNIST
    from tfvidgen.data.sources import DatasetMissingError
    from tfvidgen.metrics import prior_uncertainty as pu

    model_dir = FLAGS.model_dir
    if not model_dir:
        fail("pass --model_dir: a bin/train run of --model=svg_lp.")
    if not os.path.exists(experiment.flags_file(model_dir)):
        fail(f"{model_dir} has no flags.txt: is it a bin/train run directory?")
    for name in ("num_trajectories", "sequences_per_trajectory", "batch_size"):
        if FLAGS[name].value < 1:
            fail(f"--{name} must be a positive integer.")
    if FLAGS.num_frames < 2 or FLAGS.warmup < 0:
        fail("--num_frames must be >= 2 and --warmup >= 0.")
    try:
        values = experiment.read_run(model_dir)
    except (FileNotFoundError, ValueError) as e:
        fail(str(e))
    if values["model"] != "svg_lp":
        fail(f"{model_dir} is a --model={values['model']} run, which has no learned prior "
             "p_psi(z_t | x_1:t-1): the uncertainty plot needs SVG-LP (--model=svg_lp; "
             "SVG-FP's prior is the fixed N(0, I), the deterministic baseline has no z). "
             "Train one with bin/train --flagfile=configs/svg_lp_smmnist.cfg and pass its "
             "--model_dir.")
    source_values = dict(values, split=FLAGS.split)
    if FLAGS.dataset:
        source_values["dataset"] = FLAGS.dataset
    if FLAGS.data_dir:
        source_values["data_dir"] = FLAGS.data_dir
    try:
        source = experiment.build_source(source_values)
        if not isinstance(source, StochasticMovingMNIST):
            raise ValueError(
                f"--dataset={source_values['dataset']} has no trajectories to synchronise: "
                "the plot needs Stochastic Moving MNIST. Pass --dataset=smmnist (or smmnist1, "
                "smmnist_nonuniform, ...) for a run trained on another dataset.")
        task, _, step, _ = runs.load_run(model_dir, values)
        pu.check_learned_prior(task)
        result = pu.analyse(task, source, FLAGS.num_trajectories,
                            FLAGS.sequences_per_trajectory, FLAGS.num_frames, FLAGS.seed,
                            FLAGS.batch_size, FLAGS.warmup)
    except (DatasetMissingError, FileNotFoundError, ValueError) as e:
        fail(str(e))
    result["source"] = {"model_dir": model_dir, "model": values["model"], "step": step,
                        "dataset": source_values["dataset"]}
    output = FLAGS.output or os.path.join(model_dir, "evaluation", "prior_uncertainty.json")
    png = os.path.splitext(output)[0] + ".png"
    pu.plot(result, png, title=f"Learned prior sigma_psi of {os.path.basename(os.path.normpath(model_dir))} "
            f"(step {step}), {FLAGS.sequences_per_trajectory} sequences per trajectory")
    result["files"] = {"plot": png}
    pu.write_report(result, output)
    s = result["summary"]
    for j, entry in enumerate(result["trajectories"]):
        t = entry["summary"]
        print(f"trajectory {j + 1}: ratio {t['ratio']:.3f}, peak precision "
              f"{t['peak_precision']:.2f} (chance {t['peak_chance']:.2f}), collisions at "
              f"{entry['collision_frames_per_digit']}")
    print(f"sigma after collisions: {s['sigma_after_collision']:.6g}")
    print(f"sigma at collisions: {s['sigma_at_collision']:.6g}")
    print(f"sigma elsewhere: {s['sigma_elsewhere']:.6g}")
    print(f"ratio: {s['ratio']:.4g}")
    print(f"peak precision: {s['peak_precision']:.3g} (chance {s['peak_chance']:.3g})")
    print(f"report: {output}", file=sys.stderr)
    print(f"plot: {png}", file=sys.stderr)


def run(argv=None):
    run_tool(FLAGS, main, __doc__, argv)


if __name__ == "__main__":
    run()
