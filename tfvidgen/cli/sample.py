"""bin/sample: videos from a model server (TF Serving or bin/serve) into a file.

    bin/sample --server=localhost:8500 --model_name=rjgan --num_videos=16 --output=samples.gif
    bin/sample --server=localhost:8500 --model_name=rjgan --seed=7 --num_frames=32 --output=long.mp4
    bin/sample --server=http://localhost:8501 --model_name=rjgan --output=videos.npy   # REST
    bin/sample --server=localhost:8500 --model_name=rjgan --signature=sample_with_content \\
        --inputs=content_seed=3 --output=same_face.gif
    bin/sample --server=localhost:8500 --model_name=rjgan --signature=interpolate \\
        --seed=1 --inputs=seed_b=2 --num_videos=8 --output=interpolation.gif

``.gif`` and ``.mp4`` hold a grid of the videos (``.mp4`` needs
``pip install imageio-ffmpeg``, i.e. ``tfvidgen[video]``); ``.npy`` holds the
uint8 array [N, T, H, W, 3] (or [N, H, W, 3] for images) as the server
returned it. Same --seed, same videos.
"""
from __future__ import annotations

import importlib.util
import os
import time

import tfvidgen  # noqa: F401
from absl import flags

from tfvidgen.cli.common import fail, run_tool

FLAGS = flags.FlagValues()
flags.DEFINE_string("server", "localhost:8500",
                    "host:port (gRPC) or http://host:port (REST) of the model server.",
                    flag_values=FLAGS)
flags.DEFINE_string("model_name", None, "Served model name (required).", flag_values=FLAGS)
flags.DEFINE_integer("num_videos", 16,
                     "Videos (or images, or interpolation steps) to generate.",
                     flag_values=FLAGS)
flags.DEFINE_string("output", "samples.gif", "Output file: .gif, .mp4 or .npy.",
                    flag_values=FLAGS)
flags.DEFINE_integer("seed", 0, "Seed: same seed, same videos.", flag_values=FLAGS)
flags.DEFINE_integer("num_frames", None, "Frames per video (default: the model's clip length).",
                     flag_values=FLAGS)
flags.DEFINE_string("signature", "serving_default",
                    "serving_default, sample_frames, sample_images, summary_frame, "
                    "sample_with_content, sample_with_motion, interpolate (bin/export "
                    "--describe lists a model's).", flag_values=FLAGS)
flags.DEFINE_string("output_key", None, "Output to write (default: video, else image).",
                    flag_values=FLAGS)
flags.DEFINE_list("inputs", [], "Further inputs, e.g. content_seed=3 or seed_b=2.",
                  flag_values=FLAGS)
flags.DEFINE_integer("model_version", None, "Serve this version (default: the latest).",
                     flag_values=FLAGS)
flags.DEFINE_string("version_label", None, "Serve the version with this label.",
                    flag_values=FLAGS)
flags.DEFINE_float("timeout", 120.0, "Deadline in seconds (retries included).",
                   flag_values=FLAGS)
flags.DEFINE_integer("retries", 3, "Retries when the server is UNAVAILABLE.", flag_values=FLAGS)
flags.DEFINE_integer("max_batch_size", 32, "Split requests above this many videos.",
                     flag_values=FLAGS)
flags.DEFINE_float("fps", 8.0, "Frames per second of .gif/.mp4.", flag_values=FLAGS)
flags.DEFINE_integer("columns", None, "Videos per row of the grid (default: square).",
                     flag_values=FLAGS)

MP4_MISSING = ("writing .mp4 needs an ffmpeg backend for imageio: pip install imageio-ffmpeg "
               "(or pip install 'tfvidgen[video]'); .gif and .npy need nothing")


def write(path: str, array, fps: float, columns=None) -> None:
    """Writes uint8 videos [N, T, H, W, 3] (or images [N, H, W, 3]) to .gif/.mp4/.npy."""
    import numpy as np

    ext = os.path.splitext(path)[1].lower()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    if ext == ".npy":
        np.save(path, array)
        return
    videos = array[:, None] if array.ndim == 4 else array
    if videos.ndim != 5:
        raise ValueError(f"cannot write an array of shape {list(array.shape)} as {ext}")
    from tfvidgen.train import summaries

    if ext == ".gif":
        summaries.write_gif(path, videos, fps=fps, columns=columns)
    elif ext == ".mp4":
        if importlib.util.find_spec("imageio_ffmpeg") is None:
            raise RuntimeError(MP4_MISSING)
        import imageio.v3 as iio

        grid = summaries.tile(videos, columns)
        # H.264 in yuv420p needs even sides; pad to multiples of 16 (no rescaling).
        pad_h, pad_w = -grid.shape[1] % 16, -grid.shape[2] % 16
        grid = np.pad(grid, [(0, 0), (0, pad_h), (0, pad_w), (0, 0)])
        iio.imwrite(path, grid, extension=".mp4", fps=fps, codec="libx264",
                    macro_block_size=1, plugin="FFMPEG")
    else:
        raise ValueError(f"--output={path}: use .gif, .mp4 or .npy")


def _extra_inputs():
    extra = {}
    for item in FLAGS.inputs:
        key, sep, value = item.partition("=")
        if not sep:
            fail(f"--inputs: {item!r} is not name=value")
        try:
            extra[key.strip()] = int(value)
        except ValueError:
            try:
                extra[key.strip()] = float(value)
            except ValueError:
                fail(f"--inputs: {item!r}: value must be a number")
    return extra


def main() -> None:
    if not FLAGS.model_name:
        fail("--model_name is required (the served model, e.g. rjgan)")
    if FLAGS.num_videos < 1:
        fail("--num_videos must be >= 1")
    ext = os.path.splitext(FLAGS.output)[1].lower()
    if ext not in (".gif", ".mp4", ".npy"):
        fail(f"--output={FLAGS.output}: use .gif, .mp4 or .npy")
    if ext == ".mp4" and importlib.util.find_spec("imageio_ffmpeg") is None:
        fail(MP4_MISSING)
    if FLAGS.model_version is not None and FLAGS.version_label:
        fail("give --model_version or --version_label, not both")
    from tfvidgen.serving import Client, ServingError

    start = time.monotonic()
    with Client(FLAGS.server, FLAGS.model_name, timeout_s=FLAGS.timeout, retries=FLAGS.retries,
                max_batch_size=FLAGS.max_batch_size) as client:
        try:
            array = client.sample(seed=FLAGS.seed, num_videos=FLAGS.num_videos,
                                  num_frames=FLAGS.num_frames, signature=FLAGS.signature,
                                  output=FLAGS.output_key, extra_inputs=_extra_inputs(),
                                  version=FLAGS.model_version,
                                  version_label=FLAGS.version_label)
        except ServingError as e:
            fail(f"{FLAGS.server}: {e.code.name}: {e.message}")
    seconds = time.monotonic() - start
    try:
        write(FLAGS.output, array, FLAGS.fps, FLAGS.columns)
    except (ValueError, RuntimeError, OSError) as e:
        fail(str(e))
    print(f"{FLAGS.output}: {list(array.shape)} {array.dtype} from {FLAGS.model_name} "
          f"({FLAGS.signature}, seed {FLAGS.seed}) in {seconds:.2f} s")


def run(argv=None):
    run_tool(FLAGS, main, __doc__, argv)


if __name__ == "__main__":
    run()
