"""KTH and BAIR robot pushing sources, on tiny files the tests write."""
import importlib.util
import io
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfvidgen import experiment
from tfvidgen.data import bair, kth, pipeline, video_files
from tfvidgen.data.sources import CorruptVideoError, DatasetMissingError


def _values(dataset, data_dir, split="train", image_size=16):
    return {"dataset": dataset, "data_dir": data_dir, "image_size": image_size, "split": split,
            "seed": 0, "synthetic_identities": 1, "synthetic_takes": 1,
            "synthetic_video_length": 8}


# KTH -----------------------------------------------------------------------------------

def _kth_frames(person, action, length, width=40, height=30):
    """Frame t is uniform grey 40 * action + 3 * person + t (exact through GIF and resize)."""
    return [np.full([height, width], (40 * action + 3 * person + t) % 256, np.uint8)
            for t in range(length)]


def _write_gif(path, frames):
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=40, loop=0)


def _kth_tree(root, persons=(1, 22), actions=("boxing", "walking"), length=12, sequences=True):
    for person in persons:
        for action in actions:
            folder = root / action
            os.makedirs(folder, exist_ok=True)
            _write_gif(folder / f"person{person:02d}_{action}_d1_uncomp.gif",
                       _kth_frames(person, kth.ACTIONS.index(action), length))
    if sequences:
        lines = ["Sequences of KTH", ""]
        for person in persons:
            for action in actions:
                lines.append(f"person{person:02d}_{action}_d1\t\tframes\t1-4, 5-9, 10-40")
        (root / "00sequences.txt").write_text("\n".join(lines) + "\n")


def test_kth_names_and_sequences():
    assert kth.parse_name("person07_handwaving_d3_uncomp.avi") == (7, 2, 3)
    assert kth.parse_name("/x/person25_running_d4.mp4") == (25, 4, 4)
    assert kth.parse_name("person07_dancing_d3_uncomp.avi") is None
    assert kth.parse_name("readme.txt") is None
    text = "person01_boxing_d1\t\tframes\t1-95, 96-185, 186-245, 246-360\n\nother text\n"
    assert kth.parse_sequences(text) == {"person01_boxing_d1": [(0, 94), (95, 184), (185, 244),
                                                                (245, 359)]}


def test_kth_missing_data_says_what_to_do(tmp_path):
    for data_dir in (None, str(tmp_path / "nowhere"), str(tmp_path)):
        with pytest.raises(DatasetMissingError) as e:
            kth.KTHSource(data_dir)
        message = str(e.value)
        assert kth.URL in message and "person<NN>_<action>_d<K>_uncomp.avi" in message
        assert "--data_dir" in message
    _kth_tree(tmp_path, persons=(22,))
    with pytest.raises(DatasetMissingError, match="persons 1-20"):
        kth.KTHSource(str(tmp_path), split="train")


@pytest.mark.skipif(video_files.video_backend_available(), reason="a video backend is installed")
def test_kth_avi_without_a_backend_says_what_to_install(tmp_path):
    (tmp_path / "person01_boxing_d1_uncomp.avi").write_bytes(b"RIFF")
    with pytest.raises(ImportError, match="imageio-ffmpeg"):
        kth.KTHSource(str(tmp_path))


def test_kth_splits_labels_and_sequences(tmp_path):
    _kth_tree(tmp_path)
    train = kth.KTHSource(str(tmp_path), image_size=16, split="train")
    test = kth.KTHSource(str(tmp_path), image_size=16, split="test")
    everything = kth.KTHSource(str(tmp_path), image_size=16, split="all")
    assert set(train.persons) == {1} and set(test.persons) == {22}
    assert len(train) == len(test) == 6 and len(everything) == 12  # 2 files x 3 sequences
    assert train.class_names == kth.ACTIONS
    assert [train.class_names[train.label(i)] for i in range(len(train))] == \
        ["boxing"] * 3 + ["walking"] * 3
    assert train.identity(0) == 1
    # Sequences 1-4, 5-9, 10-40 of a 12-frame file: 4, 5 and 3 frames.
    assert train.lengths().tolist() == [4, 5, 3, 4, 5, 3]
    video = train.read(1)  # frames 5..9 of person01_boxing
    assert video.shape == (5, 16, 16, 3) and video.dtype == np.uint8
    assert np.array_equal(video[..., 0], video[..., 2])
    np.testing.assert_array_equal(video[:, 0, 0, 0], 3 + np.arange(4, 9))
    np.testing.assert_array_equal(train.read(5, [2])[0, 5, 5], [3 + 40 * 5 + 11] * 3)
    assert "frames 5-9" in train.describe(1)
    whole = kth.KTHSource(str(tmp_path), image_size=16, use_sequences=False, cache=False)
    assert whole.lengths().tolist() == [12, 12]
    np.testing.assert_array_equal(whole.read(0, [0, 11])[:, 0, 0, 0], [3, 14])


def test_kth_through_the_registry_and_pipeline(tmp_path):
    _kth_tree(tmp_path, sequences=False)
    source = experiment.build_source(_values("kth", str(tmp_path), split="test"))
    assert isinstance(source, kth.KTHSource) and len(source) == 2
    data = pipeline.split_sources(source, images_from_videos=False)
    ds = pipeline.make_dataset(data, clip_length=5, every_nth=1, images_per_video=0,
                               batch_size=2, frame_shape=(16, 16, 3), seed=0)
    batch = next(iter(ds))
    assert batch["video"].shape == (2, 5, 16, 16, 3)
    assert set(batch["label"].numpy()) <= {0, 5}


@pytest.mark.skipif(importlib.util.find_spec("imageio_ffmpeg") is None,
                    reason="writing AVIs needs imageio-ffmpeg")
def test_kth_reads_avi_files(tmp_path):
    import imageio.v2 as imageio
    folder = tmp_path / "running"
    os.makedirs(folder)
    frames = [np.repeat(f[..., None], 3, -1) for f in _kth_frames(3, 4, 10, 160, 120)]
    with imageio.get_writer(folder / "person03_running_d2_uncomp.avi", fps=25,
                            codec="mjpeg", quality=10, macro_block_size=8) as w:
        for frame in frames:
            w.append_data(frame)
    source = kth.KTHSource(str(tmp_path), image_size=16, split="all")
    assert len(source) == 1 and source.num_frames(0) == 10
    video = source.read(0)
    assert video.shape == (10, 16, 16, 3)
    np.testing.assert_allclose(video[:, 8, 8, 0], [f[0, 0, 0] for f in frames], atol=4)


# BAIR ----------------------------------------------------------------------------------

def _bair_video(k, length=6):
    rng = np.random.default_rng(k)
    return rng.integers(0, 256, [length, 64, 64, 3]).astype(np.uint8)


def _bytes(*values):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _floats(*values):
    return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))


def _write_original(path, videos):
    """softmotion30_44k records: raw frames under <t>/image_aux1/encoded (and image_main)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as w:
        for video in videos:
            feature = {}
            for t, frame in enumerate(video):
                feature[f"{t}/image_aux1/encoded"] = _bytes(frame.tobytes())
                feature[f"{t}/image_main/encoded"] = _bytes((255 - frame).tobytes())
                feature[f"{t}/action"] = _floats(0.1, 0.2, 0.3, 0.4)
                feature[f"{t}/endeffector_pos"] = _floats(1.0, 2.0, 3.0)
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            w.write(example.SerializeToString())


def _png(frame):
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="PNG")
    return buffer.getvalue()


def _write_tfds(path, videos):
    """bair_robot_pushing_small records: a sequence of PNG frames per camera."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as w:
        for video in videos:
            feature = {"image_aux1": _bytes(*[_png(f) for f in video]),
                       "image_main": _bytes(*[_png(255 - f) for f in video]),
                       "action": _floats(*[0.5] * (4 * len(video))),
                       "endeffector_pos": _floats(*[0.5] * (3 * len(video)))}
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            w.write(example.SerializeToString())


def test_bair_missing_data_says_what_to_do(tmp_path):
    for data_dir in (None, str(tmp_path)):
        with pytest.raises(DatasetMissingError) as e:
            bair.BairSource(data_dir)
        message = str(e.value)
        assert bair.URL in message and "tfds build bair_robot_pushing_small" in message
        assert "softmotion30_44k/train" in message and "--data_dir" in message
    _write_original(tmp_path / "softmotion30_44k" / "train" / "traj_0_to_1.tfrecords",
                    [_bair_video(0)])
    with pytest.raises(DatasetMissingError, match="split 'test'"):
        bair.BairSource(str(tmp_path), split="test")


def test_bair_original_tfrecords(tmp_path):
    root = tmp_path / "bair_robot_pushing_dataset_v0" / "softmotion30_44k"
    train = [_bair_video(k) for k in range(3)]
    _write_original(root / "train" / "traj_0_to_1.tfrecords", train[:2])
    _write_original(root / "train" / "traj_2_to_2.tfrecords", train[2:])
    _write_original(root / "test" / "traj_0_to_0.tfrecords", [_bair_video(9)])
    source = bair.BairSource(str(tmp_path))
    assert source.layout == "original" and len(source) == 3 and source.video_length == 6
    for k in range(3):
        np.testing.assert_array_equal(source.read(k), train[k])
    np.testing.assert_array_equal(source.read(2, [5, 1]), train[2][[5, 1]])
    main = bair.BairSource(str(tmp_path), camera="image_main")
    np.testing.assert_array_equal(main.read(1, [0])[0], 255 - train[1][0])
    assert len(bair.BairSource(str(tmp_path), split="all")) == 4
    np.testing.assert_array_equal(bair.BairSource(str(tmp_path), split="test").read(0),
                                  _bair_video(9))
    small = bair.BairSource(str(root), image_size=32)  # data_dir may be softmotion30_44k
    assert small.read(0).shape == (6, 32, 32, 3)


def test_bair_tfds_copy(tmp_path):
    version = tmp_path / bair.TFDS_NAME / "2.0.0"
    train = [_bair_video(k, length=5) for k in range(3)]
    _write_tfds(version / f"{bair.TFDS_NAME}-train.tfrecord-00000-of-00002", train[:1])
    _write_tfds(version / f"{bair.TFDS_NAME}-train.tfrecord-00001-of-00002", train[1:])
    _write_tfds(version / f"{bair.TFDS_NAME}-test.tfrecord-00000-of-00001", [_bair_video(7, 5)])
    source = experiment.build_source(_values("bair", str(tmp_path), image_size=64))
    assert isinstance(source, bair.BairSource) and source.layout == "tfds"
    assert len(source) == 3 and source.lengths().tolist() == [5, 5, 5]
    for k in range(3):
        np.testing.assert_array_equal(source.read(k), train[k])
    assert source.label(0) == -1
    data = pipeline.split_sources(source, images_from_videos=False)
    ds = pipeline.make_dataset(data, clip_length=4, every_nth=1, images_per_video=0,
                               batch_size=2, frame_shape=(64, 64, 3), seed=0)
    assert next(iter(ds))["video"].shape == (2, 4, 64, 64, 3)


def test_tfrecord_index(tmp_path):
    path = str(tmp_path / "x.tfrecords")
    with tf.io.TFRecordWriter(path) as w:
        for n in (3, 0, 10):
            w.write(b"a" * n)
    offsets = bair.record_offsets(path)
    assert [length for _, length in offsets] == [3, 0, 10]
    with open(path, "rb") as f:
        f.seek(offsets[2][0])
        assert f.read(10) == b"a" * 10
    with open(path, "ab") as f:
        f.write(b"\x05")
    with pytest.raises(CorruptVideoError):
        bair.record_offsets(path)
