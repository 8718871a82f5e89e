"""Test set-up: two logical CPU devices, so MirroredStrategy really runs 2 replicas."""
import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfvidgen.train.strategies import split_cpu  # noqa: E402

split_cpu(2)


_STRATEGIES = {}


@pytest.fixture
def cpu_strategy():
    """Factory: MirroredStrategy over n logical CPUs (1 or 2).

    One strategy per replica count for the whole session: collective ops of
    separate MirroredStrategy objects in one process can reuse instance keys
    and abort with "Shape mismatch in the collective instance" (seen with
    TF 2.21 when a second model trains after a first).
    """
    def make(n):
        if n not in _STRATEGIES:
            _STRATEGIES[n] = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(n)])
        return _STRATEGIES[n]
    return make


def make_videos(num=6, frames=12, size=16, seed=0, num_classes=3):
    """Tiny labelled videos whose pixels encode (video, frame): v*20 + t."""
    rng = np.random.default_rng(seed)
    videos, labels = [], []
    for v in range(num):
        length = frames + (v % 3)
        video = np.zeros([length, size, size, 3], np.uint8)
        for t in range(length):
            video[t] = (v * 20 + t) % 256
        video[..., 1] = rng.integers(0, 255, size=video.shape[:-1])
        videos.append(video)
        labels.append(v % num_classes)
    return videos, labels


@pytest.fixture
def array_source():
    from tfvidgen.data.sources import ArraySource
    videos, labels = make_videos()
    return ArraySource(videos, labels, class_names=("a", "b", "c"))
