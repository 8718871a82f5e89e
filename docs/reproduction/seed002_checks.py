"""The checks behind docs/reproduction.md's seed 002 sections that no bin/ tool prints.

    python docs/reproduction/seed002_checks.py pose RUN          # DRNet pose statistics
    python docs/reproduction/seed002_checks.py periods           # Moving MNIST's periods
    python docs/reproduction/seed002_checks.py strip GIF OUT.png 5,6,8,10 3
                                                                 # truth/prediction rows

``pose`` reads a drnet or drnet_lstm run: 64 test clips of 40 frames (eval
seed 0); the spread of E_p's unit pose vectors, the error of the mean pose
and of the last context pose, D's reconstruction with the true poses and
with frame 5's pose held, and for drnet_lstm the teacher-forced one-step
pose error and the pose error of its rollout. ``strip`` cuts the rows of a
``report_prediction_examples.gif`` (ground truth, then the kept prediction,
for the first COLS sequences) at the listed frames.
"""
import sys

import numpy as np


def pose(run):
    import tensorflow as tf
    from tfvidgen import experiment
    from tfvidgen.data import pipeline
    from tfvidgen.evaluate.context import real_clips
    from tfvidgen.runs import load_run

    task, _, step, values = load_run(run, experiment.read_run(run))
    source = experiment.build_source({**values, "split": "test", "synthetic_video_length": 40})
    clips = real_clips(pipeline.split_sources(source, seed=0), 64, 40, 0) / 127.5 - 1.0
    x = task.to_model(tf.constant(clips, tf.float32))
    h_c, skips, h_p = task.encode(x, training=False)
    h_p, truth = h_p.numpy(), x.numpy()
    mean_pose = h_p.reshape(-1, h_p.shape[-1]).mean(0)
    content, skips4 = h_c[:, 4], [s[:, 4] for s in skips]
    held = np.repeat(h_p[:, 4:5], h_p.shape[1], axis=1)
    print(f"step {step}: pose std per dimension {h_p.reshape(-1, h_p.shape[-1]).std(0).mean():.4f}"
          f" (within a clip {h_p.std(axis=1).mean():.4f})")
    print(f"pose MSE: mean pose {((h_p - mean_pose) ** 2).mean():.2e}, "
          f"last context pose {((h_p[:, 5:] - h_p[:, 4:5]) ** 2).mean():.2e}")
    for name, poses in (("true poses", h_p), ("frame 5's pose held", held)):
        frames = task.decode(content, skips4, tf.constant(poses)).numpy()
        print(f"reconstruction MSE with {name}: {((frames - truth) ** 2).mean():.4f}")
    if hasattr(task, "pose_lstm"):
        predicted, _ = task.pose_lstm(task.lstm_inputs(tf.constant(h_p[:, :-1]), content))
        print(f"teacher-forced pose MSE {((predicted.numpy() - h_p[:, 1:]) ** 2).mean():.2e}")
        future = task.predict(tf.constant(clips[:, :5], tf.float32), 35)
        _, _, rolled = task.encode(task.to_model(future), training=False)
        print(f"rollout pose MSE {((rolled.numpy() - h_p[:, 5:]) ** 2).mean():.2e}")


def periods():
    from collections import Counter
    from tfvidgen.data.moving_mnist import StochasticMovingMNIST

    for size in (32, 64):
        source = StochasticMovingMNIST(image_size=size, split="test", video_length=900,
                                       dynamics="deterministic", colored=True)
        eventual, frame5 = Counter(), Counter()
        for i in range(60):
            p = source.metadata(i).positions
            eventual[next((t for t in range(1, 700)
                           if np.array_equal(p[100 + t:150 + t], p[100:150])), None)] += 1
            frame5[next((t for t in range(1, 400) if np.array_equal(p[4 + t], p[4])), None)] += 1
        print(f"{size}x{size}, 60 test videos: period after frame 100 {dict(eventual)}; "
              f"first return of frame 5 {dict(frame5)} (None: not within the search)")


def strip(gif, out, steps, cols):
    import imageio.v2 as imageio
    from PIL import Image

    frames = [f[..., :3] for f in imageio.mimread(gif, memtest=False)]
    tile = (frames[0].shape[0] - 1) // 2      # two rows of tiles, 1-pixel borders

    def cell(f, row, col):
        return f[1 + row * tile: row * tile + tile, 1 + col * tile: col * tile + tile]

    steps = [int(s) for s in steps.split(",")]
    width = len(steps) * (tile - 1 + 2) - 2
    rows = []
    for col in range(int(cols)):
        for row in range(2):
            line = []
            for t in steps:
                line += [cell(frames[t - 1], row, col), np.full((tile - 1, 2, 3), 255, np.uint8)]
            rows += [np.concatenate(line[:-1], 1),
                     np.full((2 if row == 0 else 6, width, 3), 255, np.uint8)]
    image = np.concatenate(rows[:-1], 0)
    Image.fromarray(image).resize((image.shape[1] * 2, image.shape[0] * 2),
                                  Image.NEAREST).save(out)


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"pose": pose, "periods": periods, "strip": strip}[command](*args)
