"""Every command-line flag, defined once, grouped: data, model, train, export.

Flagfiles in configs/ set them; flags given after ``--flagfile`` override
it. Validators reject impossible values at parse time with a message that
names the flag.
"""
from __future__ import annotations

import math

from absl import flags

from tfvidgen.train.strategies import STRATEGIES

FLAGS = flags.FLAGS

# Data -------------------------------------------------------------------------
flags.DEFINE_string("dataset", "synthetic_expressions",
                    "Training dataset: synthetic_expressions (built in, no files), mug, "
                    "video_folder (MoCoGAN strips), frame_folders, video_files, image_folder; "
                    "for prediction: smmnist (Stochastic Moving MNIST, built in; also "
                    "smmnist1, smmnist_nonuniform, smmnist1_nonuniform, moving_mnist), kth, bair.")
flags.DEFINE_string("data_dir", None, "Root folder of the dataset's files.")
flags.DEFINE_string("split", "train", "Dataset split: train, test or all.")
flags.DEFINE_integer("image_size", 64, "Frame side in pixels (a power of two >= 16).")
flags.DEFINE_integer("clip_length", 16, "Frames per clip S_T shown to the video discriminator.")
flags.DEFINE_integer("every_nth", 1, "Temporal stride of real clips.")
flags.DEFINE_integer("synthetic_identities", 24, "synthetic_expressions: number of identities.")
flags.DEFINE_integer("synthetic_takes", 2, "synthetic_expressions: takes per identity and expression.")
flags.DEFINE_integer("synthetic_video_length", 32,
                     "Built-in generated datasets (synthetic_expressions, smmnist*): frames "
                     "per video.")
flags.DEFINE_string("image_dataset", None,
                    "Optional image set for the image discriminator (mixed image+video "
                    "training), e.g. image_folder.")
flags.DEFINE_string("image_data_dir", None, "Root folder of --image_dataset.")
flags.DEFINE_float("broken_video_fraction", 0.0,
                   "Fraction of the videos broken into single frames for the image "
                   "discriminator only (0.5: seed 003's 1:1 image/video mixture).")

# Model ------------------------------------------------------------------------
flags.DEFINE_string("model", "rjgan",
                    "Method: rjgan, rmocogan, mocogan, image_gan; video prediction: svg_lp, "
                    "svg_fp, svg_det.")
flags.DEFINE_integer("ngf", 64, "Generator width (filters of its last hidden layer).")
flags.DEFINE_integer("ndf", 64, "Discriminators' width (filters of their first layer).")
flags.DEFINE_integer("content_dim", 50, "MoCoGAN/RMoCoGAN: content code size; DRNet: size of "
                     "the content vector h_c (the paper's 128; the configs set it).")
flags.DEFINE_integer("motion_dim", 10, "MoCoGAN/RMoCoGAN: motion code size.")
flags.DEFINE_integer("latent_dim", 60, "RJGAN/image GAN: image latent size (mu, z(t)).")
flags.DEFINE_integer("noise_dim", 10, "RJGAN: per-step noise eps(t) size.")
flags.DEFINE_integer("residual_hidden", 128, "RMoCoGAN: hidden units of delta_C's MLP.")
flags.DEFINE_integer("num_categories", 0,
                     "Categories of the categorical video discriminator (0: unconditional).")
flags.DEFINE_float("prior_stddev", 1.0, "sigma of the N(0, sigma^2 I) prior of mu / z_C.")
flags.DEFINE_integer("image_batch_size", 32,
                     "Global image batch for the image discriminator (a multiple of --batch_size).")
flags.DEFINE_float("learning_rate", 2e-4, "Adam learning rate (all networks).")
flags.DEFINE_float("beta1", 0.5, "Adam beta1.")
flags.DEFINE_float("beta2", 0.999, "Adam beta2.")
flags.DEFINE_float("weight_decay", 1e-5, "L2 weight decay added to gradients (PyTorch style).")
flags.DEFINE_integer("summary_frame_period", 1,
                     "RJGAN: show summary frames G_I(mu) to D_I every this many steps.")
flags.DEFINE_bool("share_fakes", True,
                  "Use one batch of generated videos for the D and G updates of an "
                  "iteration (--noshare_fakes: a fresh batch per update, as the official code).")
flags.DEFINE_string("init_image_generator", None,
                    "Run directory or checkpoint whose image_generator initialises this "
                    "model's (pre-training between image_gan and rjgan).")

# Prediction (SVG, seed 002 chapter 6) ------------------------------------------
# Adam settings come from --learning_rate / --beta1 / --beta2 (SVG: 0.002, 0.9).
flags.DEFINE_integer("n_past", 5, "SVG: context frames a prediction is conditioned on.")
flags.DEFINE_integer("n_future", 10, "SVG: frames predicted after the context in training "
                     "(clips are n_past + n_future frames).")
flags.DEFINE_integer("n_eval", 30, "SVG: frames, context included, of the TensorBoard "
                     "predictions and of serving_default's default length.")
flags.DEFINE_integer("z_dim", 10, "SVG: size of the latent z_t (SM-MNIST 10, KTH 32, BAIR 64).")
flags.DEFINE_integer("g_dim", 128, "SVG: size of the frame encoding h_t and of g_t.")
flags.DEFINE_integer("rnn_size", 256, "SVG: cells per LSTM layer.")
flags.DEFINE_integer("predictor_rnn_layers", 2, "SVG: LSTM layers of the frame predictor.")
flags.DEFINE_integer("posterior_rnn_layers", 1, "SVG: LSTM layers of the posterior q_phi.")
flags.DEFINE_integer("prior_rnn_layers", 1, "SVG-LP: LSTM layers of the learned prior p_psi.")
flags.DEFINE_float("beta", 1e-4, "SVG: weight of the KL term (SM-MNIST, BAIR 1e-4; KTH 1e-6); "
                   "DRNet: weight of the adversarial term (SM-MNIST 0.1, KTH 1e-4).")
flags.DEFINE_bool("last_frame_skip", False,
                  "SVG: skip connections from the previous frame at every step (default: "
                  "from the last context frame once the context is over).")
flags.DEFINE_enum("encoder_arch", "dcgan", ("dcgan", "vgg"),
                  "SVG: frame encoder/decoder (dcgan: SM-MNIST; vgg: KTH, BAIR).")
flags.DEFINE_integer("encoder_width", 64, "SVG: filters of the encoder's first level.")
flags.DEFINE_integer("frame_channels", 3,
                     "SVG: channels the model sees and predicts: 1 (grey, the mean of RGB: "
                     "SM-MNIST, KTH) or 3; outputs keep the input's channels.")

# DRNet (seed 002 chapter 5). Shared with MoCoGAN: --content_dim; with SVG: --encoder_arch / --encoder_width (E_c
# and D), --frame_channels, --beta (here the adversarial weight), --n_past,
# --n_future, --n_eval, --rnn_size and --predictor_rnn_layers (the pose LSTM).
flags.DEFINE_integer("pose_dim", 5, "DRNet: size of the pose vector h_p (SM-MNIST, KTH 5).")
flags.DEFINE_enum("pose_arch", "dcgan", ("dcgan", "vgg", "resnet"),
                  "DRNet: pose encoder E_p (dcgan: SM-MNIST; resnet: ResNet-18, KTH).")
flags.DEFINE_bool("content_skips", True, "DRNet: U-Net skip connections from the content "
                  "encoder to the decoder (KTH); --nocontent_skips: the plain mirrored "
                  "decoder (MNIST).")
flags.DEFINE_integer("max_step", 20, "DRNet: frames per training clip; the content and "
                     "pose frames are drawn from it (offsets k in [0, max_step - 1]).")
flags.DEFINE_float("alpha", 1.0, "DRNet: weight of the content similarity loss (Eq. 5.2).")
flags.DEFINE_integer("sd_width", 100, "DRNet: hidden units of the scene discriminator C.")
flags.DEFINE_string("drnet_dir", None, "drnet_lstm: --model_dir of the trained DRNet whose "
                    "encoders and decoder the pose LSTM uses (frozen).")

# Train ------------------------------------------------------------------------
flags.DEFINE_string("model_dir", None, "Run directory; an existing one is resumed.")
flags.DEFINE_integer("max_steps", 10000, "Total training iterations.")
flags.DEFINE_integer("batch_size", 16, "Global batch size (videos; images for image_gan).")
flags.DEFINE_integer("seed", 0, "Seed of data order, noise and initialisation.")
flags.DEFINE_enum("strategy", "mirrored", STRATEGIES, "tf.distribute strategy.")
flags.DEFINE_integer("cpu_replicas", 1,
                     "Logical CPU devices for MirroredStrategy when there is no GPU.")
flags.DEFINE_bool("jit_compile", False, "XLA-compile the training step (slow on CPU).")
flags.DEFINE_integer("summary_every", 10, "Steps between scalar summaries.")
flags.DEFINE_integer("sample_every", 200, "Steps between GIF / frame-grid summaries.")
flags.DEFINE_integer("checkpoint_every", 200, "Steps between checkpoints.")
flags.DEFINE_integer("keep_checkpoints", 3, "Checkpoints kept.")
flags.DEFINE_integer("num_samples", 16, "Videos in the run's samples.gif.")
flags.DEFINE_bool("export_after_training", False,
                  "Export a SavedModel to <model_dir>/export when training ends.")
flags.DEFINE_integer("eval_every", 0,
                     "Steps between periodic evaluations of --eval_metrics, written to "
                     "TensorBoard under eval/ (0: none).")
flags.DEFINE_string("eval_metrics", "parzen",
                    "Metrics of --eval_every: bin/evaluate's names with small sample sizes, "
                    "e.g. parzen,nn or fd@classifier:runs/expr_classifier (docs/evaluation.md).")
flags.register_validator("eval_every", lambda v: v >= 0, "--eval_every must be >= 0.")


def _check_eval_metrics(text):
    from tfvidgen.evaluate import check_train_metrics  # lazy: TensorFlow
    try:
        check_train_metrics(text)
    except ValueError as e:
        raise flags.ValidationError(f"--eval_metrics: {e}") from None
    return True


flags.register_validator("eval_metrics", _check_eval_metrics)

# Export -----------------------------------------------------------------------
flags.DEFINE_string("export_dir", None, "Base folder of SavedModel exports.")
flags.DEFINE_string("model_name", None, "Name of the exported model (default: --model).")
flags.DEFINE_integer("export_version", None, "Version folder (default: the training step).")

_POSITIVE = ("image_size", "clip_length", "every_nth", "synthetic_identities", "synthetic_takes",
             "synthetic_video_length", "ngf", "ndf", "content_dim", "motion_dim", "latent_dim",
             "noise_dim", "residual_hidden", "image_batch_size", "max_steps", "batch_size",
             "cpu_replicas", "summary_every", "sample_every", "checkpoint_every",
             "keep_checkpoints", "num_samples", "summary_frame_period",
             "n_past", "n_future", "n_eval", "z_dim", "g_dim", "rnn_size", "predictor_rnn_layers",
             "posterior_rnn_layers", "prior_rnn_layers", "encoder_width",
             "pose_dim", "max_step", "sd_width")
# Models that take no per-video image batch (image_gan's batch is images).
_NO_IMAGE_BATCH = ("image_gan", "svg_lp", "svg_fp", "svg_det", "drnet", "drnet_lstm")
for _name in _POSITIVE:
    flags.register_validator(_name, lambda v: v is not None and v >= 1,
                             message=f"--{_name} must be a positive integer.")
for _name in ("learning_rate", "prior_stddev"):
    flags.register_validator(_name, lambda v: v > 0, message=f"--{_name} must be > 0.")
flags.register_validator("num_categories", lambda v: v >= 0, "--num_categories must be >= 0.")
flags.register_validator("weight_decay", lambda v: v >= 0, "--weight_decay must be >= 0.")
flags.register_validator("beta", lambda v: v >= 0, "--beta must be >= 0.")
flags.register_validator("alpha", lambda v: v >= 0, "--alpha must be >= 0.")
flags.register_validator("frame_channels", lambda v: v in (1, 3), "--frame_channels must be 1 or 3.")
flags.register_multi_flags_validator(
    ["n_past", "n_eval"], lambda f: f["n_eval"] > f["n_past"],
    "--n_eval must exceed --n_past (it counts the context frames too).")
flags.register_validator("beta1", lambda v: 0 <= v < 1, "--beta1 must be in [0, 1).")
flags.register_validator("beta2", lambda v: 0 <= v < 1, "--beta2 must be in [0, 1).")
flags.register_validator("broken_video_fraction", lambda v: 0 <= v < 1,
                         "--broken_video_fraction must be in [0, 1).")
flags.register_validator(
    "image_size", lambda v: v >= 16 and math.log2(v).is_integer(),
    "--image_size must be a power of two >= 16 (e.g. 32, 64, 128).")
flags.register_validator("split", lambda v: v in ("train", "test", "all"),
                         "--split must be train, test or all.")
flags.register_multi_flags_validator(
    ["image_batch_size", "batch_size", "model"],
    lambda f: (f["model"] in _NO_IMAGE_BATCH
               or f["image_batch_size"] % f["batch_size"] == 0),
    "--image_batch_size must be a multiple of --batch_size (each video slot carries "
    "image_batch_size / batch_size frames for the image discriminator).")
flags.register_validator("export_version", lambda v: v is None or v >= 0,
                         "--export_version must be a non-negative integer.")


def serialize(flag_values=FLAGS) -> str:
    """The package's flags as a flagfile (the run's resolved ``flags.txt``).

    Only flags defined by tfvidgen modules are written, so the file parses
    in any program that imports ``tfvidgen.flags`` (absl's own --help and
    logging flags are left out).
    """
    lines = []
    for module, module_flags in sorted(flag_values.flags_by_module_dict().items()):
        if not module.startswith("tfvidgen"):
            continue
        for flag in module_flags:
            text = flag.serialize()
            if text:
                lines.append(text)
    return "\n".join(sorted(set(lines))) + "\n"
