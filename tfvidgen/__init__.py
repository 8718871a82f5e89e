"""tfvidgen: video generation methods for TensorFlow 2 / Keras 3.

Importing the package turns on TensorFlow's oneDNN kernels on CPUs where
TensorFlow leaves them off by default (e.g. AMD EPYC without AVX-512): they
made convolutions about 2x faster on the 2-core development machine (see
docs/benchmarks.md). The variable must be set before TensorFlow is imported,
so it only takes effect when tfvidgen is imported first; a value the user
already set is respected (set TF_ENABLE_ONEDNN_OPTS=0 to opt out).
"""
import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

__version__ = "0.1.0"
