"""Nearest training items in pixel and feature space, and the PNG grid."""
import numpy as np
import pytest
from PIL import Image

from tfvidgen.metrics import neighbours


def _items(num=30, frames=4, size=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, [num, frames, size, size, 3], dtype=np.uint8)


def test_nearest_finds_exact_copies_and_orders_by_distance():
    items = _items()
    queries = items[[3, 17, 25]].copy()
    queries[1] = np.clip(queries[1].astype(int) + 10, 0, 255).astype(np.uint8)
    unit = neighbours.unit_range
    idx, dist = neighbours.nearest(unit(queries), unit(items), k=4)
    assert idx.shape == dist.shape == (3, 4)
    np.testing.assert_array_equal(idx[:, 0], [3, 17, 25])
    assert dist[0, 0] == pytest.approx(0, abs=1e-6) and dist[2, 0] == pytest.approx(0, abs=1e-6)
    assert 0 < dist[1, 0] <= 10 / 255 + 1e-6  # RMS of a <= 10-level change
    assert np.all(np.diff(dist, axis=1) >= 0)
    # Brute force agrees; chunked iteration over items gives the same answer.
    q = neighbours.unit_range(queries).reshape(3, -1).astype(np.float64)
    x = neighbours.unit_range(items).reshape(30, -1).astype(np.float64)
    brute = np.sqrt(((q[:, None] - x[None]) ** 2).mean(-1))
    np.testing.assert_array_equal(idx, np.argsort(brute, axis=1)[:, :4])
    chunks = (neighbours.unit_range(items[i:i + 7]) for i in range(0, 30, 7))
    idx2, dist2 = neighbours.nearest(neighbours.unit_range(queries), chunks, k=4, chunk=3)
    np.testing.assert_array_equal(idx2, idx)
    np.testing.assert_allclose(dist2, dist, atol=1e-6)


def test_nearest_neighbours_report_and_grids(tmp_path):
    items = _items()
    samples = items[[5, 6]]
    features_fn = lambda v: np.asarray(v, np.float32).mean(axis=(1, 2, 3))  # noqa: E731 [N, 3]
    out = neighbours.nearest_neighbours(
        samples, items, k=3, features_fn=features_fn,
        grid_path=str(tmp_path / "pixel.png"), feature_grid_path=str(tmp_path / "feat.png"))
    assert out["pixel"]["indices"][0][0] == 5 and out["pixel"]["mean_nearest"] < 1e-6
    assert out["feature"]["indices"][1][0] == 6
    assert out["num_train_items"] == 30 and out["k"] == 3
    grid = np.asarray(Image.open(tmp_path / "pixel.png"))
    # 2 rows; 4 columns (sample + 3 neighbours), each a strip of 4 frames, scaled up to >= 48 px.
    assert grid.shape[0] >= 2 * 48 and grid.shape[1] > 4 * 4 * 48
    assert Image.open(tmp_path / "feat.png").size[0] == grid.shape[1]
    # Images [N, H, W, 3] in [-1, 1] work too, and an ItemSet reads items on demand.
    frames = items[:, 0].astype(np.float32) / 127.5 - 1
    item_set = neighbours.ItemSet.from_array(frames, chunk=8)
    out = neighbours.nearest_neighbours(frames[[9]], item_set, k=2,
                                        grid_path=str(tmp_path / "frames.png"))
    assert out["pixel"]["indices"][0][0] == 9
    with pytest.raises(ValueError, match="differ in shape"):
        neighbours.nearest_neighbours(frames[:1], items, k=1)
