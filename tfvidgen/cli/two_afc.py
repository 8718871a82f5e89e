"""bin/two_afc: the 2AFC human-evaluation kit (seed 003, section 5.1).

    bin/two_afc make --model_a=runs/rjgan --model_b=runs/mocogan --kit_dir=kits/rjgan_vs_mocogan
    (judges open kits/.../index.html, or the kit is hosted on a crowdsourcing platform)
    bin/two_afc tally --kit_dir=kits/rjgan_vs_mocogan --answers=a.csv,b.csv --output=2afc.json

``make`` samples ``--num_pairs`` videos from each model (a run directory or a
SavedModel export), pairs them at random with balanced left/right positions
and writes HTML pages, the clips, manifest.json and answers_template.csv;
``--seed`` seeds the samples, the pairing and the sides. ``tally`` prints
the mean preference for model A with 95% intervals (Wilson over
judgements; bootstrap over pairs) and writes it as JSON.
"""
from __future__ import annotations

import json
import os
import sys

import tfvidgen  # noqa: F401
from absl import app, flags

from tfvidgen import flags as tfv_flags  # noqa: F401  (--seed; parses runs' flags.txt)
from tfvidgen.cli.common import fail

FLAGS = flags.FLAGS
flags.DEFINE_string("model_a", None, "make: run directory or SavedModel export of model A.")
flags.DEFINE_string("model_b", None, "make: run directory or SavedModel export of model B.")
flags.DEFINE_string("name_a", None, "make: name of model A in the manifest (default: its folder).")
flags.DEFINE_string("name_b", None, "make: name of model B in the manifest (default: its folder).")
flags.DEFINE_string("kit_dir", None, "Folder of the kit (written by make, read by tally).")
flags.DEFINE_integer("num_pairs", 128, "make: tasks, one video of each model per task (seed: 128).")
flags.DEFINE_integer("num_frames", None, "make: frames per video (default: each model's own).")
flags.DEFINE_integer("workers_per_task", 5, "make: judgements wanted per task (seed: 5).")
flags.DEFINE_enum("layout", "gif", ["gif", "frames"],
                  "make: animated GIFs side by side, or every frame in a row (short videos).")
flags.DEFINE_bool("images", False, "make: compare single images (sample_images) instead.")
flags.DEFINE_list("answers", [], "tally: answer CSV files (task_id, worker_id, choice).")
flags.DEFINE_string("output", None, "tally: JSON report (default <kit_dir>/report.json).")


def _name(path, given):
    return given or os.path.basename(os.path.normpath(path))


def make():
    from tfvidgen.evaluate.samplers import load_sampler
    from tfvidgen.metrics.two_afc import make_kit
    if not (FLAGS.model_a and FLAGS.model_b and FLAGS.kit_dir):
        fail("make needs --model_a, --model_b and --kit_dir.")
    if FLAGS.num_pairs < 1 or FLAGS.workers_per_task < 1:
        fail("--num_pairs and --workers_per_task must be positive.")
    samples, sources = [], {}
    for path, given in ((FLAGS.model_a, FLAGS.name_a), (FLAGS.model_b, FLAGS.name_b)):
        sampler, info = load_sampler(path)
        if FLAGS.images:
            samples.append(sampler.images(FLAGS.num_pairs, FLAGS.seed))
        else:
            samples.append(sampler.videos(FLAGS.num_pairs,
                                          FLAGS.num_frames or sampler.default_num_frames,
                                          FLAGS.seed))
        sources[_name(path, given)] = info
    name_a, name_b = _name(FLAGS.model_a, FLAGS.name_a), _name(FLAGS.model_b, FLAGS.name_b)
    manifest = make_kit(samples[0], samples[1], FLAGS.kit_dir, name_a=name_a, name_b=name_b,
                        seed=FLAGS.seed, workers_per_task=FLAGS.workers_per_task,
                        layout=FLAGS.layout, sources=sources)
    print(f"{manifest['num_tasks']} tasks ({name_a} on the left in {manifest['a_on_left']}): "
          f"{os.path.join(FLAGS.kit_dir, 'index.html')}")


def tally():
    from tfvidgen.metrics.two_afc import tally as tally_answers
    if not FLAGS.kit_dir or not FLAGS.answers:
        fail("tally needs --kit_dir and --answers.")
    report = tally_answers(FLAGS.kit_dir, FLAGS.answers)
    output = FLAGS.output or os.path.join(FLAGS.kit_dir, "report.json")
    with open(output, "w") as f:
        json.dump(report, f, indent=2)
    if not report["num_judgements"]:
        fail("no answers found in " + ", ".join(FLAGS.answers))
    lo, hi = report["ci95_wilson"]
    print(f"{report['model_a']} preferred over {report['model_b']}: "
          f"{100 * report['preference_a']:.1f}% of {report['num_judgements']} judgements "
          f"on {report['num_tasks_answered']} pairs (95% Wilson CI {100 * lo:.1f}-{100 * hi:.1f}%"
          + (", pair bootstrap {:.1f}-{:.1f}%".format(*[100 * v for v in
                                                          report["ci95_bootstrap_tasks"]])
             if "ci95_bootstrap_tasks" in report else "") + ")")
    print(f"report: {output}", file=sys.stderr)


def main(argv):
    if len(argv) != 2 or argv[1] not in ("make", "tally"):
        fail("usage: bin/two_afc make --model_a=... --model_b=... --kit_dir=...  |  "
             "bin/two_afc tally --kit_dir=... --answers=a.csv[,b.csv]")
    try:
        make() if argv[1] == "make" else tally()
    except (FileNotFoundError, ValueError) as e:
        fail(str(e))


def run():
    app.run(main)


if __name__ == "__main__":
    run()
