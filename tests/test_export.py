import os

import numpy as np
import pytest
import tensorflow as tf

from helpers import tiny_trainer
from tfvidgen import export
from tfvidgen.models.base import StatelessNoise, to_uint8


@pytest.fixture(scope="module")
def exported(tmp_path_factory, request):
    import conftest  # noqa: F401  (logical devices)
    base = tmp_path_factory.mktemp("export")
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    trainer = tiny_trainer("rjgan", base / "run", strategy, max_steps=2)
    trainer.train()
    path = export.export(trainer.task, str(base / "exports"), "rjgan", trainer.current_step)
    return trainer.task, path


def test_tf_serving_layout(exported):
    _, path = exported
    assert path.endswith(os.path.join("exports", "rjgan", "2"))
    assert os.path.exists(os.path.join(path, "saved_model.pb"))
    assert os.path.isdir(os.path.join(path, "variables"))
    assert not [p for p in os.listdir(os.path.dirname(path)) if p.startswith(".tmp")]


def test_export_loads_and_samples_like_the_task(exported):
    task, path = exported
    loaded = tf.saved_model.load(path)
    # loaded.serving_default honours the num_frames default; .signatures wants every input.
    out = loaded.serving_default(seed=tf.constant(7, tf.int64), num_videos=tf.constant(3))
    video = out["video"].numpy()
    assert video.dtype == np.uint8 and video.shape == (3, 10, 16, 16, 3)
    same = loaded.signatures["serving_default"](seed=tf.constant(7, tf.int64),
                                                num_videos=tf.constant(3),
                                                num_frames=tf.constant(10))["video"].numpy()
    np.testing.assert_array_equal(video, same)
    # Byte-for-byte what the task samples in process for that seed.
    np.testing.assert_array_equal(video, to_uint8(task.sample(StatelessNoise(7), 3, 10)).numpy())
    other = loaded.serving_default(seed=tf.constant(8, tf.int64),
                                   num_videos=tf.constant(3))["video"].numpy()
    assert not np.array_equal(video, other)
    longer = loaded.serving_default(seed=tf.constant(7, tf.int64), num_videos=tf.constant(3),
                                    num_frames=tf.constant(14))["video"].numpy()
    np.testing.assert_array_equal(longer,
                                  to_uint8(task.sample(StatelessNoise(7), 3, 14)).numpy())


def test_num_frames_is_optional_in_the_signature_def(exported):
    """TF Serving fills inputs a request leaves out from SignatureDef.defaults."""
    from tfvidgen.serving import savedmodel
    _, path = exported
    sigs = savedmodel.signature_defs(path)
    default = sigs["serving_default"]
    assert set(default.inputs) == {"seed", "num_videos", "num_frames"}
    assert {k: int(v) for k, v in savedmodel.default_values(default).items()} == {"num_frames": 10}
    assert not sigs["sample_frames"].defaults  # the same with num_frames required
    assert all(s.method_name == "tensorflow/serving/predict" for s in sigs.values())
    assert "__saved_model_init_op" not in sigs


@pytest.mark.parametrize("name", ["mocogan", "rmocogan", "image_gan"])
def test_every_generator_exports_through_the_same_path(tmp_path, name):
    from helpers import tiny_task
    from tfvidgen.serving import savedmodel
    task, _ = tiny_task(name)
    task.build()
    path = export.export(task, str(tmp_path), name, 1, warmup_batch_sizes=(1,))
    loaded = tf.saved_model.load(path)
    frames = task.default_num_frames
    video = loaded.serving_default(seed=tf.constant(7, tf.int64),
                                   num_videos=tf.constant(2))["video"].numpy()
    np.testing.assert_array_equal(
        video, to_uint8(task.sample(StatelessNoise(7), 2, frames)).numpy())
    sigs = savedmodel.signature_defs(path)
    assert {"serving_default", "sample_frames", "sample_images"} <= set(sigs)
    assert set(sigs["serving_default"].defaults) == {"num_frames"}
    assert len(savedmodel.read_warmup(path)) == len(sigs)


def test_other_signatures(exported):
    _, path = exported
    sigs = tf.saved_model.load(path).signatures
    assert {"serving_default", "sample_frames", "sample_images", "sample_with_content",
            "sample_with_motion", "summary_frame", "interpolate"} <= set(sigs)
    v = sigs["sample_frames"](seed=tf.constant(1, tf.int64), num_videos=tf.constant(2),
                              num_frames=tf.constant(25))["video"]
    assert v.shape == (2, 25, 16, 16, 3)
    s = sigs["summary_frame"](seed=tf.constant(1, tf.int64), num_videos=tf.constant(2))
    assert s["summary_frame"].shape == (2, 16, 16, 3) and s["video"].shape[0] == 2
    i = sigs["interpolate"](seed_a=tf.constant(1, tf.int64), seed_b=tf.constant(2, tf.int64),
                            steps=tf.constant(4))
    assert i["video"].shape[0] == 4
    c = sigs["sample_with_content"](seed=tf.constant(1, tf.int64), num_videos=tf.constant(2),
                                    content_seed=tf.constant(9, tf.int64))["video"]
    assert c.shape == (2, 10, 16, 16, 3)
    img = sigs["sample_images"](seed=tf.constant(1, tf.int64), num_images=tf.constant(5))
    assert img["image"].shape == (5, 16, 16, 3) and img["image"].dtype == tf.uint8


def test_export_never_overwrites(exported):
    task, path = exported
    base = os.path.dirname(os.path.dirname(path))
    with pytest.raises(FileExistsError):
        export.export(task, base, "rjgan", 2)


def test_describe_lists_signatures(exported):
    _, path = exported
    text = export.describe(path)
    assert "signature serving_default:" in text
    assert "input  seed: int64" in text and "output video: uint8" in text
    assert "input  num_frames: int32 []  (serving_default_num_frames:0)  optional, default 10" \
        in text
    assert "output video: uint8 [?, ?, 16, 16, 3]" in text
    assert "warm-up requests: 8 (assets.extra/tf_serving_warmup_requests)" in text


def test_warmup_file_is_what_tf_serving_reads(exported):
    from tensorflow_serving.apis import prediction_log_pb2
    _, path = exported
    records = list(tf.data.TFRecordDataset(
        os.path.join(path, "assets.extra", "tf_serving_warmup_requests")).as_numpy_iterator())
    logs = [prediction_log_pb2.PredictionLog.FromString(r) for r in records]
    assert 0 < len(logs) <= 1000
    assert all(log.WhichOneof("log_type") == "predict_log" for log in logs)
    assert all(log.predict_log.request.model_spec.name == "rjgan" for log in logs)
