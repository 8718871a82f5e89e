"""Sprites (Li & Mandt 2018; seed 003, section 5.4): split, clips, labels, cache."""
import os

import numpy as np
import pytest
from PIL import Image

from tfvidgen import registry
from tfvidgen.data import pipeline, sprites
from tfvidgen.data.config import DataConfig
from tfvidgen.data.sources import DatasetMissingError

REAL = sprites.default_data_dir()
# Rows (within a 64-px cell) each layer paints in the synthetic sheets; later layers
# cover earlier ones where they overlap (hair over top over bottom over body).
BANDS = {"body": (8, 60), "bottomwear": (36, 56), "topwear": (24, 44), "hair": (8, 16),
         "shoes": (56, 60)}
PROBE = {"body": 10, "bottomwear": 50, "topwear": 30, "hair": 12, "shoes": 58}  # rows


def make_sheets(folder, variants=2):
    """LPC-shaped sheets (832x1344 RGBA): in cell (r, c), layer L of variant v paints
    its band of rows with R = 30 + 50 v + layer, G = 20 c, B = 12 r; hair only on
    the left half so that the body shows at row 10 on the right."""
    for k, (layer, (top, bottom)) in enumerate(BANDS.items()):
        os.makedirs(folder / layer, exist_ok=True)
        for v in range(1 if layer == "shoes" else variants):
            sheet = np.zeros([21 * 64, 13 * 64, 4], np.uint8)
            for r in range(21):
                for c in range(13):
                    cell = sheet[r * 64:(r + 1) * 64, c * 64:(c + 1) * 64]
                    width = 32 if layer == "hair" else 64
                    cell[top:bottom, :width] = (30 + 50 * v + k, 20 * c, 12 * r, 255)
            Image.fromarray(sheet, "RGBA").save(folder / layer / f"{v}.png")
    return folder


@pytest.fixture(scope="module")
def sheets(tmp_path_factory):
    return make_sheets(tmp_path_factory.mktemp("lpc"))


def small(sheets, tmp_path, split="train", size=64):
    return sprites.Sprites(str(sheets), split, size, num_variants=2, num_train=10,
                           cache_dir=str(tmp_path / "cache"))


def test_dsa_split_has_1000_and_296_characters_of_6_variants():
    train, test = sprites.split_characters()
    assert (len(train), len(test)) == (1000, 296)
    assert len(set(train) | set(test)) == 1296 and not set(train) & set(test)
    assert all(0 <= v < 6 for character in train + test for v in character)
    assert sprites.split_characters() == (train, test)  # the same split every time


def test_clip_frames_wrap_shorter_animations():
    cells = sprites.cells()
    assert len(cells) == 3 * (9 + 7 + 6)
    walk_left, spell_front, slash_right = (sprites.clip_cells(0, 0), sprites.clip_cells(1, 1),
                                           sprites.clip_cells(2, 2))
    assert [cells[i] for i in walk_left] == [(9, c) for c in range(8)]
    assert [cells[i] for i in spell_front] == [(2, c) for c in (0, 1, 2, 3, 4, 5, 6, 0)]
    assert [cells[i] for i in slash_right] == [(15, c) for c in (0, 1, 2, 3, 4, 5, 0, 1)]


def test_clips_labels_and_attributes_match_the_layers(sheets, tmp_path):
    train = small(sheets, tmp_path)
    test = small(sheets, tmp_path, "test")
    assert (len(train), len(test)) == (10 * 9, 6 * 9)
    assert train.class_names == sprites.CLASS_NAMES and len(sprites.CLASS_NAMES) == 9
    assert train.lengths().tolist() == [8] * 90
    chars = [tuple(train.extras(9 * k)["attributes"]) for k in range(10)]
    chars += [tuple(test.extras(9 * k)["attributes"]) for k in range(6)]
    assert len(set(chars)) == 16  # 2^4 characters, each in one split
    for source in (train, test):
        for index in (0, 13, len(source) - 1):
            extras = source.extras(index)
            action, direction = int(extras["action"]), int(extras["direction"])
            assert source.label(index) == 3 * action + direction
            frames = source.read(index)
            assert frames.shape == (8, 64, 64, 3) and frames.dtype == np.uint8
            row0, columns = sprites.ACTION_ROWS[sprites.ACTIONS[action]]
            for t in range(8):
                for k, layer in enumerate(("body", "bottomwear", "topwear", "hair", "shoes")):
                    variant = 0 if layer == "shoes" else extras["attributes"][k]
                    x = 40 if layer == "body" else 5
                    np.testing.assert_array_equal(
                        frames[t, PROBE[layer], x],
                        (30 + 50 * variant + k, 20 * (t % columns), 12 * (row0 + 1 + direction)),
                        err_msg=f"{source.describe(index)} frame {t} {layer}")
                assert frames[t, 2].max() == 0  # black background
    with pytest.raises(IndexError):
        train.read(90)


def test_deterministic_and_built_once(sheets, tmp_path, monkeypatch):
    a = small(sheets, tmp_path / "a", size=32)
    b = small(sheets, tmp_path / "b", size=32)
    assert a.cache_path != b.cache_path and os.path.exists(a.cache_path)
    for index in (0, 44, 89):
        np.testing.assert_array_equal(a.read(index), b.read(index))
    assert a.read(0).shape == (8, 32, 32, 3)
    monkeypatch.setattr(sprites, "build_cache", lambda *args: pytest.fail("rebuilt the cache"))
    again = small(sheets, tmp_path / "a", size=32)
    np.testing.assert_array_equal(again.read(5), a.read(5))


def test_the_pipeline_delivers_labels_with_each_clip(sheets, tmp_path):
    data = pipeline.split_sources(small(sheets, tmp_path, size=16), seed=0)
    batch = next(iter(pipeline.make_dataset(
        data, clip_length=8, every_nth=1, images_per_video=0, batch_size=4,
        frame_shape=(16, 16, 3), seed=0, extras=("attributes", "action", "direction"))))
    assert batch["video"].shape == (4, 8, 16, 16, 3)
    assert batch["attributes"].shape == (4, 4) and batch["action"].shape == (4,)
    np.testing.assert_array_equal(batch["label"], 3 * batch["action"] + batch["direction"])


def test_missing_sheets_say_what_to_download_where_and_which_flag(tmp_path, monkeypatch):
    with pytest.raises(DatasetMissingError) as error:
        registry.DATASETS.get("sprites")(DataConfig(data_dir=str(tmp_path / "nowhere")))
    message = str(error.value)
    assert "\n" not in message and "--data_dir" in message
    assert "Universal-LPC-spritesheet" in message and "shared/data/lpc_sprites" in message
    assert REAL.endswith(os.path.join("shared", "data", "lpc_sprites"))
    monkeypatch.setattr(sprites, "default_data_dir", lambda: str(tmp_path / "default"))
    with pytest.raises(DatasetMissingError, match="no --data_dir given and .*default"):
        sprites.Sprites()


@pytest.mark.skipif(not os.path.isdir(REAL), reason="no ../shared/data/lpc_sprites")
def test_real_sheets(tmp_path):
    source = sprites.Sprites(None, "test", 16, num_variants=2, num_train=10,
                             cache_dir=str(tmp_path))
    assert len(source) == 54
    frames = source.read(4)
    assert frames.shape == (8, 16, 16, 3) and 0 < frames.mean() < 128
    assert frames[:, 0].max() == 0 and not np.array_equal(frames[0], frames[3])


def test_judge_learns_the_labels_and_the_protocol_scores_a_model(sheets, tmp_path):
    import tensorflow as tf
    from tfvidgen.metrics import sprites_judge
    from tfvidgen.models import dsa
    from tfvidgen.models.base import DataSpec
    tf.keras.utils.set_random_seed(0)
    train = small(sheets, tmp_path, size=16)
    judge = sprites_judge.train_classifier(train, steps=200, batch_size=16, num_variants=2,
                                           learning_rate=3e-3)
    real = sprites_judge.accuracy(judge, train)
    assert set(real) == set(sprites.ATTRIBUTES) | {"action"}
    assert min(real[a] for a in sprites.ATTRIBUTES) > 0.9, real
    assert real["action"] > 0.6, real  # chance: 1/9
    task = dsa.DSA(dsa.DSAConfig(hidden=8, conv_width=4, static_dim=4, dynamic_dim=2),
                   DataSpec(image_size=16))
    task.build()
    scores = sprites_judge.protocol(task, judge, small(sheets, tmp_path, "test", 16),
                                    num_videos=20)
    assert set(scores) == {f"fixed_static/{a}" for a in sprites.ATTRIBUTES} | {
        "fixed_static/mean", "fixed_dynamic/action"}
    assert all(0.0 <= v <= 1.0 for v in scores.values())


def test_protocol_command_line(sheets, tmp_path, monkeypatch, capsys):
    import json
    from tfvidgen import runs
    from tfvidgen.metrics import sprites_judge
    from tfvidgen.models import dsa
    from tfvidgen.models.base import DataSpec
    task = dsa.DSA(dsa.DSAConfig(hidden=8, conv_width=4, static_dim=4, dynamic_dim=2),
                   DataSpec(image_size=16))
    task.build()
    monkeypatch.setattr(runs, "load_run", lambda d: (task, None, 7, {"image_size": 16,
                                                                     "data_dir": str(sheets)}))
    cache, real_class = str(tmp_path / "cache"), sprites.Sprites
    monkeypatch.setattr(sprites, "Sprites", lambda d, split, size: real_class(
        d, split, size, num_variants=2, num_train=10, cache_dir=cache))
    weights = str(tmp_path / "judge.weights.h5")
    args = ["--model_dir=run", "--judge_steps=2", f"--judge_weights={weights}",
            "--num_videos=9"]
    first = sprites_judge.main(args)
    assert os.path.exists(weights)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert set(lines[0]["judge_on_real_test"]) == set(sprites_judge.HEADS)
    assert lines[1]["step"] == 7 and lines[1]["fixed_dynamic/action"] == first[
        "fixed_dynamic/action"]
    assert sprites_judge.main(args) == first  # the saved judge, the same seeds
