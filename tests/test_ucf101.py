"""UCF101 from a tiny fake layout: split lists, labels, central frames, the frame cache."""
import os

import numpy as np
import pytest

from tfvidgen import registry
from tfvidgen.data import ucf101, video_files
from tfvidgen.data.config import DataConfig
from tfvidgen.data.sources import DatasetMissingError

CLASSES = ("ApplyEyeMakeup", "Basketball", "YoYo")


def _video(seed, length, height=24, width=32):
    """Frames whose pixels encode (video, frame); a 4:3 frame as UCF101's."""
    out = np.zeros([length, height, width, 3], np.uint8)
    for t in range(length):
        out[t] = (seed * 40 + t) % 256
    out[:, :, :4] = 255  # columns the centre crop removes
    out[:, :, -4:] = 255
    return out


@pytest.fixture
def layout(tmp_path):
    """data_dir/UCF-101/<Class>/*.avi (placeholders) and ucfTrainTestlist/ (split 1)."""
    root = tmp_path / "UCF101"
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(CLASSES)))
    frames, train, test = {}, [], []
    for c, name in enumerate(CLASSES):
        folder = root / "UCF-101" / name
        folder.mkdir(parents=True)
        for g in range(2):
            rel = f"{name}/v_{name}_g0{g + 1}_c01.avi"
            (root / "UCF-101" / rel).write_bytes(b"")
            frames[str(root / "UCF-101" / rel)] = _video(2 * c + g, 40 + 4 * c + g)
            (train if g == 0 else test).append((rel, c + 1))
    (lists / "trainlist01.txt").write_text("".join(f"{r} {k}\r\n" for r, k in train))
    (lists / "testlist01.txt").write_text("".join(f"{r}\n" for r, _ in test))
    calls = []

    def decoder(path):
        calls.append(path)
        return frames[path]

    return root, tmp_path / "cache", decoder, calls, frames


def _source(layout, **kwargs):
    root, cache, decoder, _, _ = layout
    return ucf101.UCF101(str(root), image_size=8, cache_dir=str(cache), decoder=decoder,
                         workers=2, **kwargs)


def test_split_lists_and_labels(layout):
    train, test = _source(layout), _source(layout, split="test")
    both = _source(layout, split="all")
    assert train.class_names == CLASSES and len(train) == 3 and len(test) == 3
    assert train.labels().tolist() == [0, 1, 2] and test.labels().tolist() == [0, 1, 2]
    assert len(both) == 6 and both.items[:3] == train.items
    assert train.items[1] == "Basketball/v_Basketball_g01_c01.avi"


def test_cache_is_built_once_and_read_back(layout):
    root, cache, _, calls, frames = layout
    source = _source(layout)
    assert source.lengths().tolist() == [40, 44, 48]  # builds the cache
    assert len(calls) == 3
    path = source.cache_path(1)
    assert path.startswith(str(cache)) and path.endswith("Basketball/v_Basketball_g01_c01.npy")
    clip = source.read(1, [0, 5])
    assert clip.shape == (2, 8, 8, 3)
    # Centre crop of the 4:3 frame: the white side columns are gone.
    want = (2 * 1 + 0) * 40
    assert np.all(clip[0] == want) and np.all(clip[1] == want + 5)
    again = _source(layout)  # a new epoch / run: no decoding
    np.testing.assert_array_equal(again.read(1, [0, 5]), clip)
    assert again.lengths().tolist() == [40, 44, 48] and len(calls) == 3


def test_central_frames(layout):
    source = _source(layout, central_frames=32)
    assert source.lengths().tolist() == [32, 32, 32]
    clip = source.read(2, [0, 31])  # video of 48 frames: frames 8..39
    assert clip[0, 0, 0, 0] == (2 * 2 * 40 + 8) % 256 and clip[1, 0, 0, 0] == (160 + 39) % 256
    with pytest.raises(Exception):
        source.read(2, [32])


def test_crop_none_keeps_the_sides(layout):
    clip = _source(layout, crop="none").read(0, [0])
    # The squashed frame keeps (a blend of) its white left column; the crop does not.
    assert clip[0, :, 0].min() > 150 and clip[0, :, 4].max() == 0
    assert _source(layout).read(0, [0]).max() == 0


def test_unreadable_video_is_skipped(layout):
    root, cache, decoder, _, frames = layout
    bad = str(root / "UCF-101" / "YoYo" / "v_YoYo_g01_c01.avi")
    frames[bad] = np.zeros([0, 24, 32, 3], np.uint8)
    source = _source(layout)
    assert source.lengths().tolist() == [40, 44, 0]
    assert 2 in source.skipped


def test_missing_data_messages(tmp_path, layout):
    build = registry.DATASETS.get("ucf101")
    with pytest.raises(DatasetMissingError, match="no --data_dir.*crcv.ucf.edu.*--data_dir"):
        build(DataConfig(data_dir=None))
    with pytest.raises(DatasetMissingError, match="classInd.txt not found"):
        build(DataConfig(data_dir=str(tmp_path)))
    root = layout[0]
    os.remove(root / "UCF-101" / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g01_c01.avi")
    with pytest.raises(DatasetMissingError, match="first video of trainlist01.txt"):
        build(DataConfig(data_dir=str(root)))
    for name in ("ucf101_split2", "ucf101_split3", "ucf101_central32"):
        assert registry.DATASETS.get(name)


def test_no_video_backend_message(tmp_path, monkeypatch):
    monkeypatch.setattr(video_files, "video_backend_available", lambda: False)
    with pytest.raises(ImportError, match="pip install imageio-ffmpeg"):
        ucf101.decode_video(str(tmp_path / "v.avi"))


@pytest.mark.skipif(not video_files.video_backend_available(),
                    reason="imageio-ffmpeg (or PyAV) is not installed")
def test_decodes_a_real_avi(tmp_path):
    import imageio.v3 as iio
    video = np.repeat(_video(1, 6, 48, 64), 1, axis=0)
    path = str(tmp_path / "v.avi")
    iio.imwrite(path, video, fps=25, codec="mjpeg")
    frames = ucf101.decode_video(path)
    assert frames.shape == (6, 48, 64, 3)


def test_the_training_pipeline_draws_random_clips(layout):
    """TGAN's random 16-frame clips (stride 1) from the cache, through the trainer's loader."""
    from tfvidgen.data import pipeline
    source = _source(layout)
    data = pipeline.split_sources(source, seed=0)
    loader = pipeline.ElementLoader(data, 16, 1, 0, seed=0)
    starts = set()
    for g in range(6):
        clip = loader(g)[0]
        assert clip.shape == (16, 8, 8, 3)
        steps = np.diff(clip[:, 0, 0, 0].astype(int))
        assert np.all(steps == 1)  # consecutive frames
        starts.add(int(clip[0, 0, 0, 0]) % 40)
    assert len(starts) > 1
