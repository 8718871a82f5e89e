"""bin/serve: serve exported generators over TF Serving's gRPC (and REST) API.

    bin/serve --model_name=rjgan --model_base_path=exports/rjgan --port=8500
    bin/serve --model_config_file=serving/models.config --port=8500 --rest_api_port=8501
    bin/serve --model_config_file=serving/models.config \\
        --enable_batching --batching_parameters_file=serving/batching_parameters.txt

Runs ``tensorflow_model_server`` with the same flags when it is on PATH
(``--server=package`` forces the package's server; ``--server=tensorflow_model_server``
insists on the binary). Flags the package's server does not know are passed
on to ``tensorflow_model_server`` unchanged; with the package's server they
are an error.

The package's server binds 127.0.0.1 unless ``--host`` says otherwise
(``--host=0.0.0.0``: every interface); ``tensorflow_model_server`` always
binds every interface. ``--port=0`` picks a free port; the log line
``serving ... on HOST:PORT (gRPC)`` on stderr says which. SIGINT/SIGTERM
stop it. See docs/serving.md.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import threading

import tfvidgen  # noqa: F401  (sets TF_ENABLE_ONEDNN_OPTS before TensorFlow loads)
from absl import flags

from tfvidgen.cli.common import fail

BINARY = "tensorflow_model_server"
FLAGS = flags.FlagValues()
# tensorflow_model_server's flags (same names, same meaning) ----------------------------
flags.DEFINE_integer("port", 8500, "gRPC port (0: a free one).", flag_values=FLAGS)
flags.DEFINE_integer("rest_api_port", 0, "REST port (0: no REST API, as in TF Serving).",
                     flag_values=FLAGS)
flags.DEFINE_string("model_config_file", None, "models.config (ModelServerConfig, text format).",
                    flag_values=FLAGS)
flags.DEFINE_integer("model_config_file_poll_wait_seconds", 0,
                     "Re-read --model_config_file this often (0: never).", flag_values=FLAGS)
flags.DEFINE_string("model_name", "default", "Name of the one model (without a config file).",
                    flag_values=FLAGS)
flags.DEFINE_string("model_base_path", None,
                    "Folder of the one model's numeric version folders (without a config file).",
                    flag_values=FLAGS)
flags.DEFINE_float("file_system_poll_wait_seconds", 1.0,
                   "Seconds between looks for new or removed version folders.", flag_values=FLAGS)
flags.DEFINE_bool("enable_batching", False,
                  "Read --batching_parameters_file (see docs/serving.md: with "
                  "tensorflow_model_server, batching needs inputs with a batch dimension).",
                  flag_values=FLAGS)
flags.DEFINE_string("batching_parameters_file", None,
                    "BatchingParameters in text format (serving/batching_parameters.txt).",
                    flag_values=FLAGS)
flags.DEFINE_bool("enable_model_warmup", True,
                  "Replay assets.extra/tf_serving_warmup_requests when a version loads.",
                  flag_values=FLAGS)
flags.DEFINE_integer("grpc_max_threads", 16,
                     "gRPC server threads, and gRPC calls in progress at once (further ones: "
                     "RESOURCE_EXHAUSTED).", flag_values=FLAGS)
flags.DEFINE_integer("rest_api_num_threads", 16,
                     "REST connections served at once (further ones: 429).", flag_values=FLAGS)
flags.DEFINE_integer("rest_api_timeout_in_ms", 30000,
                     "REST socket read/write timeout and deadline of a request body (408 "
                     "beyond it); idle connections close after it.", flag_values=FLAGS)
# The package's server only ----------------------------------------------------------
PACKAGE_ONLY = ("server", "host", "max_batch_size", "max_num_frames", "max_message_bytes",
                "max_concurrent_runs", "max_queued_runs")
flags.DEFINE_enum("server", "auto", ["auto", "package", BINARY],
                  f"auto: {BINARY} when on PATH, else the package's server.", flag_values=FLAGS)
flags.DEFINE_string("host", "127.0.0.1",
                    "Interface the package's server binds (0.0.0.0: all).", flag_values=FLAGS)
flags.DEFINE_integer("max_batch_size", None,
                     "Largest num_videos/num_images/steps of a request (default: "
                     "max_batch_size of --batching_parameters_file with --enable_batching, "
                     "else 64).", flag_values=FLAGS)
flags.DEFINE_integer("max_num_frames", 256, "Largest num_frames of a request.",
                     flag_values=FLAGS)
flags.DEFINE_integer("max_message_bytes", 64 << 20,
                     "Largest request accepted (bytes): gRPC message, REST body (413 beyond "
                     "it) and input tensor once decoded.", flag_values=FLAGS)
flags.DEFINE_integer("max_concurrent_runs", None,
                     "Model runs at once (default: num_batch_threads of "
                     "--batching_parameters_file with --enable_batching, else the cores, at "
                     "most 4).", flag_values=FLAGS)
flags.DEFINE_integer("max_queued_runs", None,
                     "Requests that may wait for a model run; further ones get "
                     "RESOURCE_EXHAUSTED / 429 at once (default: max_enqueued_batches of "
                     "--batching_parameters_file with --enable_batching, else 8).",
                     flag_values=FLAGS)


def _option_name(arg: str) -> str:
    return arg.lstrip("-").split("=", 1)[0]


def binary_argv(argv) -> list:
    """The command line for tensorflow_model_server: our argv without package-only flags."""
    kept, skip = [BINARY], False
    for arg in argv[1:]:
        if skip:
            skip = False
            continue
        name = _option_name(arg)
        if name in PACKAGE_ONLY:
            skip = "=" not in arg  # --host 0.0.0.0: drop the value too
            continue
        kept.append(arg)
    return kept


def run_binary(argv) -> None:
    command = binary_argv(argv)
    print(f"note: {BINARY} binds every interface (--host applies to the package's server "
          "only)", file=sys.stderr)
    if FLAGS.enable_batching:
        print(f"warning: {BINARY}'s batcher needs a batch dimension on every input and "
              "tfvidgen's signatures take scalars: requests will fail (docs/serving.md, "
              "Batching). Leave out --enable_batching.", file=sys.stderr)
    print("exec " + " ".join(command), file=sys.stderr, flush=True)
    os.execvp(command[0], command)


def build_server():
    from tfvidgen.serving import config as config_lib
    from tfvidgen.serving.server import Limits, ModelServer

    if FLAGS.model_config_file:
        if FLAGS.model_base_path:
            fail("give --model_config_file or --model_base_path, not both")
        try:
            model_config = config_lib.read_model_config(FLAGS.model_config_file)
        except (OSError, ValueError) as e:
            fail(str(e))
    elif FLAGS.model_base_path:
        model_config = config_lib.single_model_config(FLAGS.model_name,
                                                      os.path.abspath(FLAGS.model_base_path))
    else:
        fail("nothing to serve: give --model_config_file=... or --model_name=... "
             "--model_base_path=...")
    for name, low in (("max_message_bytes", 1), ("grpc_max_threads", 1),
                      ("rest_api_num_threads", 1), ("rest_api_timeout_in_ms", 1),
                      ("max_concurrent_runs", 1), ("max_queued_runs", 0)):
        value = getattr(FLAGS, name)
        if value is not None and value < low:
            fail(f"--{name} must be >= {low}")
    limits = Limits(max_batch_size=64, max_num_frames=FLAGS.max_num_frames,
                    max_request_bytes=FLAGS.max_message_bytes)
    if FLAGS.batching_parameters_file and not FLAGS.enable_batching:
        print("note: --batching_parameters_file is read only with --enable_batching",
              file=sys.stderr)
    if FLAGS.enable_batching and FLAGS.batching_parameters_file:
        try:
            params = config_lib.read_batching_parameters(FLAGS.batching_parameters_file)
        except (OSError, ValueError) as e:
            fail(str(e))
        limits.max_batch_size = params.max_batch_size
        if params.num_batch_threads > 0:
            limits.max_concurrent_runs = params.num_batch_threads
        if params.max_enqueued_batches > 0:
            limits.max_queued_runs = params.max_enqueued_batches
    if FLAGS.max_concurrent_runs is not None:
        limits.max_concurrent_runs = FLAGS.max_concurrent_runs
    if FLAGS.max_queued_runs is not None:
        limits.max_queued_runs = FLAGS.max_queued_runs
    if FLAGS.max_batch_size is not None:
        if FLAGS.max_batch_size < 1:
            fail("--max_batch_size must be >= 1")
        limits.max_batch_size = FLAGS.max_batch_size
    if FLAGS.file_system_poll_wait_seconds <= 0:
        fail("--file_system_poll_wait_seconds must be > 0")
    return ModelServer(model_config, host=FLAGS.host, port=FLAGS.port,
                       rest_api_port=FLAGS.rest_api_port or None,
                       poll_wait_s=FLAGS.file_system_poll_wait_seconds, limits=limits,
                       max_workers=FLAGS.grpc_max_threads,
                       warmup=FLAGS.enable_model_warmup,
                       model_config_file=FLAGS.model_config_file,
                       config_poll_s=FLAGS.model_config_file_poll_wait_seconds,
                       rest_api_num_threads=FLAGS.rest_api_num_threads,
                       rest_api_timeout_s=FLAGS.rest_api_timeout_in_ms / 1000)


def run(argv=None):
    argv = list(sys.argv if argv is None else argv)
    if any(a in ("-h", "--help", "--helpshort", "--helpfull") for a in argv[1:]):
        print(__doc__ + "\nflags:\n" + FLAGS.get_help())
        return
    try:
        rest = FLAGS(argv, known_only=True)
    except flags.Error as e:
        fail(str(e))
    unknown = rest[1:]
    binary = shutil.which(BINARY)
    if FLAGS.server == BINARY and not binary:
        fail(f"--server={BINARY}: {BINARY} is not on PATH (docs/serving.md: Docker image or "
             "Google's apt repository)")
    if binary and FLAGS.server != "package":
        run_binary(argv)
        return
    if unknown:
        fail(f"the package's server does not implement {' '.join(unknown)} "
             f"(those are for {BINARY}, which is not on PATH); see bin/serve --help")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = build_server()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        server.start()
    except OSError as e:
        fail(str(e))
    while not stop.wait(1.0):
        pass
    logging.getLogger("tfvidgen.serving").info("stopping")
    server.stop(grace=2.0)


if __name__ == "__main__":
    run()
