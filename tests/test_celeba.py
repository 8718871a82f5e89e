"""CelebA from local files: 18 attributes as extras, 64x64 centre crops, splits, the
one-line missing-data message."""
import numpy as np
import pytest
from PIL import Image

import tfds_fakes
from tfvidgen.data import celeba
from tfvidgen.data.sources import DatasetMissingError

ALL = ("5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose "
       "Black_Hair Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses "
       "Goatee Gray_Hair Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open Mustache "
       "Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks "
       "Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat Wearing_Lipstick "
       "Wearing_Necklace Wearing_Necktie Young").split()


def _fake_celeba(root, count=3):
    (root / "img_align_celeba").mkdir(parents=True)
    rows = []
    for i in range(count):
        name = f"{i + 1:06d}.jpg"
        pixels = np.full([218, 178, 3], 40 * i, np.uint8)
        pixels[:10] = 255  # top rows, cut by the centre crop
        Image.fromarray(pixels).save(root / "img_align_celeba" / name)
        values = [1 if (j + i) % 3 == 0 else -1 for j in range(len(ALL))]
        rows.append(name + " " + " ".join(map(str, values)))
    (root / "list_attr_celeba.txt").write_text(f"{count}\n" + " ".join(ALL) + "\n"
                                               + "\n".join(rows) + "\n")
    (root / "list_eval_partition.txt").write_text(
        "".join(f"{i + 1:06d}.jpg {0 if i < count - 1 else 2}\n" for i in range(count)))


def test_reads_images_and_the_official_18_attributes(tmp_path):
    _fake_celeba(tmp_path)
    source = celeba.CelebA(str(tmp_path), image_size=64, split="train")
    assert len(source) == 2 and len(celeba.CelebA(str(tmp_path), 64, "test")) == 1
    frames = source.read(1)
    assert frames.shape == (1, 64, 64, 3) and frames.dtype == np.uint8
    assert np.abs(frames.astype(int) - 40).max() <= 3  # the crop leaves out the top rows
    indices = [4, 5, 8, 9, 11, 12, 15, 17, 18, 20, 21, 22, 26, 28, 31, 32, 33, 35]
    assert [ALL[i] for i in indices] == list(celeba.ATTRIBUTE_NAMES)
    attrs = source.extras(1)["attributes"]
    want = np.array([1.0 if (j + 1) % 3 == 0 else 0.0 for j in indices], np.float32)
    np.testing.assert_array_equal(attrs, want)
    assert source.extra_specs() == {"attributes": (np.dtype(np.float32), (18,))}


def test_a_tfds_copy_gives_the_same_images_and_attributes(tmp_path):
    _fake_celeba(tmp_path / "release", count=4)
    names, table = celeba.read_attributes(str(tmp_path / "release" / "list_attr_celeba.txt"))
    partition = celeba.read_partition(str(tmp_path / "release" / "list_eval_partition.txt"))
    tfds_split = {0: "train", 1: "validation", 2: "test"}
    splits = {}
    for name in names:  # the released JPEG files (TFDS keeps their bytes) and all 40 attributes
        with Image.open(tmp_path / "release" / "img_align_celeba" / name) as image:
            pixels = np.asarray(image)
        row = [line.split() for line in (tmp_path / "release" / "list_attr_celeba.txt")
               .read_text().splitlines() if line.startswith(name)][0]
        attributes = {a: int(v) > 0 for a, v in zip(ALL, row[1:])}
        splits.setdefault(tfds_split[partition[name]], []).append((name, pixels, attributes))
    tfds_fakes.celeb_a(tmp_path / "tfds", splits)
    for split in ("train", "test", "all"):
        release = celeba.CelebA(str(tmp_path / "release"), 64, split)
        copy = celeba.CelebA(str(tmp_path / "tfds"), 64, split)
        assert copy.records is not None and len(copy) == len(release)
        want = sorted((tuple(release.extras(i)["attributes"]), release.read(i).tobytes())
                      for i in range(len(release)))
        got = sorted((tuple(copy.extras(i)["attributes"]), copy.read(i).tobytes())
                     for i in range(len(copy)))
        # Same attributes; images equal up to the JPEG re-encoding of the fake copy.
        assert [w[0] for w in want] == [g[0] for g in got]
        for (_, w), (_, g) in zip(want, got):
            assert np.abs(np.frombuffer(w, np.uint8).astype(int)
                          - np.frombuffer(g, np.uint8).astype(int)).max() <= 3
    assert len({tuple(a) for a in table}) == 3  # the attributes tell the images apart


def test_missing_files_give_one_line_saying_what_to_download(tmp_path):
    for where in (None, str(tmp_path)):
        with pytest.raises(DatasetMissingError) as error:
            celeba.CelebA(where)
        message = str(error.value)
        assert "\n" not in message and "list_attr_celeba.txt" in message
        assert "tfds build celeb_a" in message and "celeb_a-train.tfrecord" in message
        assert "--data_dir" in message
