"""Stochastic Moving MNIST (seed 002, section 6.3.2): physics, metadata, digit sources."""
import gzip
import io
import os
import struct

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from helpers import square_digits
from tfvidgen import experiment
from tfvidgen.data import moving_mnist, pipeline
from tfvidgen.data.moving_mnist import StochasticMovingMNIST
from tfvidgen.data.sources import DatasetMissingError


def source(size=32, num_digits=1, length=40, **kwargs):
    kwargs.setdefault("digits", square_digits(size // 2))
    return StochasticMovingMNIST(image_size=size, num_digits=num_digits, video_length=length,
                                 num_videos=1000, **kwargs)


def test_defaults_match_the_paper():
    s = StochasticMovingMNIST(video_length=30)
    assert s.frame_shape == (64, 64, 3) and s.digit_size == 32 and s.max_speed == 4
    assert s.num_digits == 2 and len(s) == 1_000_000
    video = s.read(0, np.arange(30))
    assert video.shape == (30, 64, 64, 3) and video.dtype == np.uint8
    assert np.array_equal(video[..., 0], video[..., 2])  # grey as three equal channels
    assert video.max() > 200 and np.mean(video == 0) > 0.5  # white digits on black
    assert isinstance(s.digits, moving_mnist.FontDigits)  # no files needed


@pytest.mark.parametrize("dynamics", ["stochastic", "deterministic"])
@pytest.mark.parametrize("velocity", ["uniform", "nonuniform"])
def test_physics_constant_velocity_until_a_wall(dynamics, velocity):
    s = source(num_digits=2, velocity=velocity, dynamics=dynamics)
    limit, m = s.image_size - s.digit_size, s.max_speed
    collisions = 0
    for i in range(150):
        meta = s.metadata(i)
        p, v, hit = meta.positions, meta.velocities, meta.collisions
        assert p.min() >= 0 and p.max() <= limit and np.abs(v).max() <= m
        assert not hit[0].any()
        for t in range(1, s.video_length):
            # Moves by the previous velocity, stopped at the walls.
            np.testing.assert_array_equal(p[t], np.clip(p[t - 1] + v[t - 1], 0, limit))
            for n in range(2):
                moving_out = ((p[t - 1, n] + v[t - 1, n] <= 0) & (v[t - 1, n] < 0)) | \
                             ((p[t - 1, n] + v[t - 1, n] >= limit) & (v[t - 1, n] > 0))
                assert hit[t, n] == moving_out.any()  # a collision is reaching a wall
                if not hit[t, n]:
                    np.testing.assert_array_equal(v[t, n], v[t - 1, n])  # no change between
                    continue
                collisions += 1
                for axis in np.flatnonzero(moving_out):  # new velocity points away
                    assert v[t, n, axis] * np.sign(v[t - 1, n, axis]) < 0
                    if dynamics == "deterministic":
                        assert v[t, n, axis] == -v[t - 1, n, axis]
                    assert p[t, n, axis] in (0, limit)
        assert [list(c) for c in meta.collision_times] == \
            [list(np.flatnonzero(hit[:, n])) for n in range(2)]
    assert collisions > 100


def test_new_velocities_are_random_only_at_collisions():
    s = source(num_digits=1, length=60)
    after = []
    for i in range(300):
        meta = s.metadata(i)
        for t in meta.collision_times[0]:
            after.append(tuple(meta.velocities[t, 0]))
    assert s.max_speed == 2 and len(set(after)) >= 20  # most of the 25 velocities occur
    det = source(num_digits=1, length=60, dynamics="deterministic")
    for i in range(50):  # reflection keeps the speed
        v = det.metadata(i).velocities[:, 0]
        assert len(set(map(tuple, np.abs(v)))) == 1


def test_velocity_distributions():
    rng = np.random.default_rng(0)
    uniform = moving_mnist.velocity_table(4, "uniform")
    draws = np.array([moving_mnist.draw_velocity(rng, uniform) for _ in range(8100)])
    counts = np.bincount((draws[:, 0] + 4) * 9 + draws[:, 1] + 4, minlength=81)
    assert counts.min() > 50 and counts.max() < 160  # ~100 each of the 81 velocities
    # Left wall (x = 0): dx in 1..4 only; dy anywhere, uniformly.
    left = np.array([moving_mnist.draw_velocity(rng, uniform, [(0, -1)]) for _ in range(4000)])
    assert left[:, 0].min() == 1 and left[:, 0].max() == 4
    assert set(left[:, 1]) == set(range(-4, 5))
    # Non-uniform (Fig. 6.6): faster is likelier, invalid directions get zero probability.
    table = moving_mnist.velocity_table(4, "nonuniform")
    assert table[8, 4] / table[5, 4] == pytest.approx(5 / 2)  # P(dx=4) / P(dx=1)
    bottom_right = np.array([moving_mnist.draw_velocity(rng, table, [(0, 1), (1, 1)])
                             for _ in range(6000)])
    assert bottom_right.max() <= -1
    share = np.mean(bottom_right[:, 0] == -4) / np.mean(bottom_right[:, 0] == -1)
    assert share == pytest.approx(5 / 2, rel=0.2)
    assert np.abs(draws).mean() < np.abs(
        [moving_mnist.draw_velocity(rng, table) for _ in range(4000)]).mean()


def test_frames_are_consistent_with_metadata():
    s = source(num_digits=1)
    d = s.digit_size
    for i in range(20):
        meta = s.metadata(i)
        video = s.read(i)
        glyph = s.glyphs(i)[0]
        for t in range(s.video_length):
            x, y = meta.positions[t, 0]
            frame = video[t, :, :, 0]
            np.testing.assert_array_equal(frame[y:y + d, x:x + d], glyph)
            outside = frame.copy()
            outside[y:y + d, x:x + d] = 0
            assert not outside.any()
    two = source(num_digits=2)
    meta = two.metadata(3)
    np.testing.assert_array_equal(two.read(3, [4, 7]), two.render(meta, [4, 7]))
    assert meta.labels.tolist() == [k % 10 for k in meta.digits]
    frame = two.read(3, [0])[0, :, :, 0].astype(int)
    expected = np.zeros_like(frame)
    for n, glyph in enumerate(two.glyphs(3)):
        x, y = meta.positions[0, n]
        expected[y:y + d, x:x + d] += glyph
    np.testing.assert_array_equal(frame, np.minimum(expected, 255))  # sum, clipped


def test_determinism():
    a, b = source(num_digits=2, seed=3), source(num_digits=2, seed=3)
    np.testing.assert_array_equal(a.read(17), b.read(17))
    np.testing.assert_array_equal(a.read(17, [5, 2]), a.read(17)[[5, 2]])
    assert not np.array_equal(a.read(17), a.read(18))
    assert not np.array_equal(a.read(17), source(num_digits=2, seed=4).read(17))
    assert not np.array_equal(a.read(17), source(num_digits=2, seed=3, split="test").read(17))
    font = StochasticMovingMNIST(image_size=32, video_length=4, seed=1)
    np.testing.assert_array_equal(font.read(2), StochasticMovingMNIST(
        image_size=32, video_length=4, seed=1).read(2))


def test_font_digits_look_like_mnist():
    digits = moving_mnist.FontDigits(100, size=28, seed=0)
    glyphs = np.stack([digits.glyph(k) for k in range(20)]).astype(float)
    assert [digits.label(k) for k in range(12)] == list(range(10)) + [0, 1]
    assert not np.array_equal(glyphs[0], glyphs[10])  # same digit, another style
    for g in glyphs:
        rows, cols = np.nonzero(g > 30)
        assert rows.max() - rows.min() <= 21 and cols.max() - cols.min() <= 21  # 20x20 box
        ys, xs = np.indices(g.shape)
        assert abs((ys * g).sum() / g.sum() - 14) < 1.5  # centred by mass
        assert abs((xs * g).sum() / g.sum() - 14) < 1.5


def _write_idx(path, array):
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(">" + "I" * array.ndim,
                                                                   *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def _mnist_images(count, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, [count, 28, 28]).astype(np.uint8), np.arange(count) % 10


def test_real_mnist_from_idx_files(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    os.makedirs(raw)
    train, train_labels = _mnist_images(6, 0)
    test, test_labels = _mnist_images(3, 1)
    _write_idx(raw / "train-images-idx3-ubyte.gz", train)
    _write_idx(raw / "train-labels-idx1-ubyte.gz", train_labels)
    _write_idx(raw / "t10k-images-idx3-ubyte.gz", test)
    _write_idx(raw / "t10k-labels-idx1-ubyte.gz", test_labels)
    s = StochasticMovingMNIST(image_size=64, data_dir=str(tmp_path), video_length=3)
    assert len(s.digits) == 6 and s.digits.label(4) == 4
    expected = np.asarray(Image.fromarray(train[2]).resize((32, 32), Image.BILINEAR))
    np.testing.assert_array_equal(s.digits.glyph(2), expected)
    assert len(StochasticMovingMNIST(data_dir=str(tmp_path), split="test").digits) == 3
    assert len(StochasticMovingMNIST(data_dir=str(tmp_path), split="all").digits) == 9
    assert s.read(0).shape == (3, 64, 64, 3)


def test_real_mnist_from_a_tfds_copy(tmp_path):
    version = tmp_path / "mnist" / "3.0.1"
    os.makedirs(version)
    (version / "dataset_info.json").write_text("{}")
    images, labels = _mnist_images(5, 2)
    with tf.io.TFRecordWriter(str(version / "mnist-train.tfrecord-00000-of-00001")) as w:
        for image, label in zip(images, labels):
            png = io.BytesIO()
            Image.fromarray(image).save(png, format="PNG")
            example = tf.train.Example(features=tf.train.Features(feature={
                "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[png.getvalue()])),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)]))}))
            w.write(example.SerializeToString())
    digits = moving_mnist.mnist_digits(str(tmp_path), "train", size=28)
    np.testing.assert_array_equal(digits.images, images)
    assert [digits.label(k) for k in range(5)] == list(labels)
    with pytest.raises(DatasetMissingError, match="mnist-test"):
        moving_mnist.mnist_digits(str(tmp_path), "test")


def test_missing_mnist_says_what_to_do(tmp_path):
    with pytest.raises(DatasetMissingError) as e:
        StochasticMovingMNIST(data_dir=str(tmp_path))
    message = str(e.value)
    assert "train-images-idx3-ubyte" in message and "tfds build mnist" in message
    assert "Without --data_dir" in message


def test_registered_variants_and_pipeline():
    values = {"dataset": "smmnist1_nonuniform", "image_size": 32, "split": "test", "seed": 0,
              "synthetic_identities": 1, "synthetic_takes": 1, "synthetic_video_length": 12,
              "data_dir": None}
    s = experiment.build_source(values)
    assert (s.num_digits, s.velocity, s.dynamics, s.video_length, s.image_size) == \
        (1, "nonuniform", "stochastic", 12, 32)
    assert len(s) == 10_000 and s.lengths()[:3].tolist() == [12, 12, 12]
    values.update(dataset="moving_mnist", split="train")
    assert experiment.build_source(values).dynamics == "deterministic"
    assert experiment.build_source({**values, "dataset": "smmnist"}).num_digits == 2
    data = pipeline.split_sources(s, images_from_videos=False)
    ds = pipeline.make_dataset(data, clip_length=6, every_nth=1, images_per_video=0,
                               batch_size=2, frame_shape=(32, 32, 3), seed=0)
    batch = next(iter(ds))
    assert batch["video"].shape == (2, 6, 32, 32, 3)
    v = batch["video"].numpy()
    assert v.min() == -1.0 and v.max() <= 1.0 and np.array_equal(v[..., 0], v[..., 1])


def test_colored_variant_draws_each_digit_in_its_own_colour():
    values = {"dataset": "smmnist_color", "image_size": 32, "split": "train", "seed": 0,
              "synthetic_identities": 1, "synthetic_takes": 1, "synthetic_video_length": 5,
              "data_dir": None}
    colored = experiment.build_source(values)
    grey = StochasticMovingMNIST(image_size=32, seed=0, video_length=5)
    assert colored.colored and colored.num_digits == 2
    meta = colored.metadata(3)
    frames = colored.render(meta, range(5)).astype(np.int64)
    plain = grey.render(meta, range(5)).astype(np.int64)
    for n in range(2):   # each digit's own pixels: only its colour's channel lights up
        alone = StochasticMovingMNIST(image_size=32, seed=0, video_length=5, num_digits=1,
                                      digits=colored.digits)
        single = meta.__class__(**{**meta.__dict__, "digits": meta.digits[n:n + 1],
                                   "positions": meta.positions[:, n:n + 1]})
        ink = alone.render(single, [0])[0, ..., 0] > 0
        channel = moving_mnist.COLORS[n].index(255)
        assert frames[0][ink][:, channel].max() > 0
    assert frames[..., 2].max() == 0             # two digits: red and green only
    np.testing.assert_array_equal(np.minimum(frames[..., 0] + frames[..., 1], 255) > 0,
                                  plain[..., 0] > 0)


def test_deterministic_colored_variant_has_exact_bouncing_trajectories():
    """DRNet's MNIST (seed 002, 5.3.2): each digit moves at a constant velocity and
    reflects off the walls, with no randomness after the start; colours per digit."""
    values = {"dataset": "moving_mnist_color", "image_size": 32, "split": "train", "seed": 0,
              "synthetic_identities": 1, "synthetic_takes": 1, "synthetic_video_length": 60,
              "data_dir": None}
    source = experiment.build_source(values)
    assert (source.dynamics, source.colored, source.num_digits) == ("deterministic", True, 2)
    limit = source.image_size - source.image_size // 2
    bounces = 0
    for index in range(4):
        meta = source.metadata(index)
        p, v = meta.positions.astype(np.int64), meta.velocities.astype(np.int64)
        assert p.shape == (60, 2, 2)
        # |v| per axis never changes: only its sign flips at a wall.
        np.testing.assert_array_equal(np.abs(v), np.abs(v[:1]).repeat(60, axis=0))
        for t in range(1, 60):
            moved = np.clip(p[t - 1] + v[t - 1], 0, limit)
            np.testing.assert_array_equal(p[t], moved)
            flipped = v[t] != v[t - 1]
            at_wall = ((p[t] == 0) & (v[t - 1] < 0)) | ((p[t] == limit) & (v[t - 1] > 0))
            np.testing.assert_array_equal(flipped, at_wall)   # reflected exactly at walls
            bounces += int(flipped.sum())
        # The same index always gives the same video (deterministic from the seed).
        np.testing.assert_array_equal(source.metadata(index).positions, meta.positions)
    assert bounces > 0
    frames = source.render(source.metadata(0), range(3))
    assert frames[..., 2].max() == 0 and frames[..., 0].max() > 0 and frames[..., 1].max() > 0


def test_class_is_the_first_digit_where_it_can_be_told_apart():
    """drnet_classify's labels (seed 002, 5.2.2): a video's class is its first digit's,
    the red one when coloured; grey two-digit videos have no class."""
    values = {"dataset": "moving_mnist_color", "image_size": 32, "split": "test", "seed": 0,
              "synthetic_identities": 1, "synthetic_takes": 1, "synthetic_video_length": 4,
              "data_dir": None}
    colored = experiment.build_source(values)
    assert colored.class_names == tuple("0123456789")
    labels = [colored.label(i) for i in range(40)]
    assert labels == [int(colored.metadata(i).labels[0]) for i in range(40)]
    assert len(set(labels)) > 3 and all(0 <= y <= 9 for y in labels)
    # The red channel of frame 0 is the first digit alone: its glyph, at its position.
    meta = colored.metadata(5)
    (x, y), d = meta.positions[0, 0], colored.digit_size
    red = colored.render(meta, [0])[0, y:y + d, x:x + d, 0]
    glyph = colored.digits.glyph(meta.digits[0])
    np.testing.assert_array_equal(red, glyph)
    grey = experiment.build_source({**values, "dataset": "moving_mnist"})
    assert grey.class_names == () and grey.label(0) == -1
    single = experiment.build_source({**values, "dataset": "smmnist1"})
    assert single.class_names and single.label(2) == int(single.metadata(2).labels[0])
