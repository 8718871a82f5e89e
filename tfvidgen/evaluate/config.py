"""``EvalConfig``: the sizes and choices of every protocol (bin/evaluate's flags)."""
from __future__ import annotations

import dataclasses
from typing import Optional, Tuple


@dataclasses.dataclass
class EvalConfig:
    """Sizes and choices of every protocol (the bin/evaluate flags)."""
    metrics: Tuple[str, ...] = ("fd", "is")
    num_videos: int = 624              # fd: real and generated clips (or images), each
    num_frames: Optional[int] = None   # clip length (default: the extractor's or the model's)
    extractor: object = "i3d"          # spec ("i3d", "c3d", "classifier:<path>") or an object
    i3d_path: Optional[str] = None
    c3d_path: Optional[str] = None
    c3d_mean_path: Optional[str] = None
    is_splits: int = 10
    is_split_size: int = 128
    seed: int = 0
    batch_size: int = 32               # samples generated per call
    eval_split: str = "test"           # held-out split (prediction, parzen, conditioning)
    n_past: Optional[int] = None       # prediction context (default: the run's --n_past, else 5)
    n_future: Optional[int] = None     # predicted frames (default: the run's --n_eval - --n_past,
                                       # else its --n_future, else 10)
    num_prediction_samples: int = 100
    num_test_sequences: int = 256
    prediction_select_by: str = "ssim"
    is_offset_stride: int = 5          # is_offset: offsets between scored windows
    parzen_samples: int = 50000        # the thesis' Table 4.1 (seed 002, section 4.4.1)
    parzen_heldout: int = 500          # validation and test items, each
    parzen_unit: str = "frames"
    parzen_levels: int = 2
    parzen_ms_samples: int = 1000      # parzen_ms: N_0 per level
    nn_samples: int = 16
    nn_k: int = 5
    nn_unit: str = "videos"
    nn_max_train_items: int = 0        # 0: every training item

    @classmethod
    def cheap(cls, **overrides) -> "EvalConfig":
        """Small sample sizes for periodic evaluation during training (--eval_every)."""
        values = dict(num_videos=128, is_splits=10, is_split_size=32, num_prediction_samples=10,
                      num_test_sequences=32, parzen_samples=500, parzen_ms_samples=500,
                      parzen_heldout=200,
                      nn_samples=8, nn_max_train_items=2000, extractor=None)
        values.update(overrides)
        return cls(**values)
