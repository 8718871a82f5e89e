"""bin/benchmark: training speed of a method on random data, as JSON.

    bin/benchmark --model=mocogan --preset=reference
    bin/benchmark --model=rjgan --preset=reference --baseline=torch --iterations=8
    bin/benchmark --model=mocogan --preset=tiny --iterations=2 --warmup=1 --input=constant
    bin/benchmark --model=svg_lp --preset=reference --baseline=torch
    bin/benchmark --model=mocogan --preset=reference --precision=mixed_bfloat16
    bin/benchmark --model=mocogan --preset=reference --input_only   # the input pipeline alone

Prints one JSON object on stdout (progress goes to stderr); see
tfvidgen/benchmark.py for what is measured and docs/benchmarks.md for
results. The flags live in their own FlagValues, so this module can be
imported next to bin/train's flags.
"""
from __future__ import annotations

import json
import sys

import tfvidgen  # noqa: F401  (sets TF_ENABLE_ONEDNN_OPTS before TensorFlow loads)
from absl import flags

from tfvidgen.cli.common import fail, parse_flags_or_fail

FLAGS = flags.FlagValues()
flags.DEFINE_string("model", "mocogan",
                    "Registered method: mocogan, rjgan, rmocogan, svg_lp, svg_fp, svg_det.",
                    flag_values=FLAGS)
flags.DEFINE_enum("preset", "reference", ["reference", "tiny"],
                  "reference: the official configuration of the model's family (MoCoGAN; "
                  "SVG on SM-MNIST); tiny: a quick smoke run.",
                  flag_values=FLAGS)
flags.DEFINE_integer("iterations", 8, "Timed iterations (per framework).", flag_values=FLAGS)
flags.DEFINE_integer("warmup", 2, "Untimed iterations first (per framework).", flag_values=FLAGS)
flags.DEFINE_bool("share_fakes", True,
                  "One batch of fakes for the D and G updates (--noshare_fakes: the official "
                  "three batches).", flag_values=FLAGS)
flags.DEFINE_bool("jit_compile", False, "XLA-compile the training step (slow on CPU).",
                  flag_values=FLAGS)
flags.DEFINE_enum("input", "pipeline", ["pipeline", "constant"],
                  "pipeline: tf.data over in-memory random videos; constant: one batch.",
                  flag_values=FLAGS)
flags.DEFINE_enum("baseline", "", ["", "torch"],
                  "torch: also time the official iteration of the model's family in PyTorch "
                  "(benchmarks/mocogan_torch.py, svg_torch.py), alternating blocks (pip "
                  "install torch==2.13.0).", flag_values=FLAGS)
flags.DEFINE_bool("torch_process", False,
                  "Run the --baseline=torch iterations in a child process without TensorFlow "
                  "(blocks still alternate), so TF's threads cannot compete with PyTorch's.",
                  flag_values=FLAGS)
flags.DEFINE_integer("blocks", 2, "Alternating TF / PyTorch blocks with --baseline.",
                     flag_values=FLAGS)
flags.DEFINE_integer("threads", 0, "Intra-op threads (TF and PyTorch); 0: one per core.",
                     flag_values=FLAGS)
flags.DEFINE_integer("inter_op_threads", 0,
                     "TF inter-op threads (ops run concurrently); 0: TF's default.",
                     flag_values=FLAGS)
flags.DEFINE_integer("seed", 0, "Seed of weights, data and noise.", flag_values=FLAGS)
flags.DEFINE_string("profile_dir", None,
                    "Also profile a few iterations into this folder (TensorBoard's profile "
                    "plugin reads it) and report the ops taking most time.", flag_values=FLAGS)
flags.DEFINE_integer("profile_iterations", 2, "Iterations profiled with --profile_dir.",
                     flag_values=FLAGS)
flags.DEFINE_enum("precision", "float32", ["float32", "mixed_bfloat16", "mixed_float16"],
                  "Keras dtype policy of the networks, as bin/train --precision; the peak is "
                  "a matmul in its compute dtype.", flag_values=FLAGS)
flags.DEFINE_integer("steps_per_loop", 1,
                     "Iterations per compiled call, as bin/train --steps_per_loop (losses "
                     "to the host once per call); times are per iteration.",
                     lower_bound=1, flag_values=FLAGS)
flags.DEFINE_bool("input_only", False,
                  "Time the input pipeline alone at the preset (no training step): videos/s "
                  "delivered.", flag_values=FLAGS)
flags.DEFINE_float("peak_seconds", 3.0,
                   "Seconds of the matmul that measures this machine's peak.",
                   flag_values=FLAGS)
flags.DEFINE_string("output", None, "Also write the JSON result to this file.",
                    flag_values=FLAGS)


def main() -> dict:
    from tfvidgen import benchmark

    config = benchmark.BenchmarkConfig(
        model=FLAGS.model, preset=FLAGS.preset, iterations=FLAGS.iterations,
        warmup=FLAGS.warmup, share_fakes=FLAGS.share_fakes, jit_compile=FLAGS.jit_compile,
        input=FLAGS.input, baseline=FLAGS.baseline, blocks=FLAGS.blocks, threads=FLAGS.threads,
        inter_op_threads=FLAGS.inter_op_threads,
        seed=FLAGS.seed, profile_dir=FLAGS.profile_dir or "",
        profile_iterations=FLAGS.profile_iterations, torch_process=FLAGS.torch_process,
        precision=FLAGS.precision, input_only=FLAGS.input_only,
        steps_per_loop=FLAGS.steps_per_loop,
        peak_seconds=FLAGS.peak_seconds)
    try:
        result = benchmark.run(config, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    except (KeyError, ValueError, RuntimeError) as e:
        fail(str(e.args[0]) if e.args else str(e))
    text = json.dumps(result, indent=1)
    print(text)
    if FLAGS.output:
        with open(FLAGS.output, "w") as f:
            f.write(text + "\n")
    return result


def run(argv=None):
    argv = list(sys.argv if argv is None else argv)
    if "--serving" in argv[1:]:  # bin/benchmark --serving: latency of the serving path
        from tfvidgen.serving.benchmark import run as serving_run
        return serving_run(argv)
    parse_flags_or_fail(FLAGS, argv, __doc__)
    main()


if __name__ == "__main__":
    run()
