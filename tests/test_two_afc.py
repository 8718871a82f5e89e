"""The 2AFC kit: pairing and balanced sides, pages and manifest, and the tally of answers."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tfvidgen.metrics import two_afc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _videos(n, value, frames=3, size=8):
    v = np.full([n, frames, size, size, 3], value, np.uint8)
    v[:, :, 0, 0, 0] = np.arange(n)[:, None]  # each video identifiable
    v[:, :, 0, 1, 0] = 40 * np.arange(frames)[None]  # frames differ (GIF keeps them all)
    return v


def _kit(tmp_path, n=10, **kwargs):
    return two_afc.make_kit(_videos(n, 50), _videos(n + 2, 200), str(tmp_path), name_a="rjgan",
                            name_b="mocogan", seed=3, workers_per_task=5, **kwargs)


def test_make_kit_writes_pages_media_manifest_and_template(tmp_path):
    manifest = _kit(tmp_path)
    assert manifest["num_tasks"] == 10 and manifest["a_on_left"] == 5  # balanced sides
    on_disk = json.load(open(tmp_path / "manifest.json"))
    assert on_disk["tasks"] == manifest["tasks"]
    a_idx = [t["a_index"] for t in manifest["tasks"]]
    assert len(set(a_idx)) == 10  # each video used once
    for task in manifest["tasks"]:
        assert {task["left"], task["right"]} == {"rjgan", "mocogan"}
        left = Image.open(tmp_path / task["left_media"])
        assert getattr(left, "n_frames", 1) == 3
        # The media show the model the manifest says (A's videos are dark, B's bright).
        frame = np.asarray(left.convert("RGB"))
        assert (frame[4, 4, 1] < 128) == (task["left"] == "rjgan")
        # File names do not reveal the model.
        assert "rjgan" not in task["left_media"] and "mocogan" not in task["right_media"]
        page = open(tmp_path / "tasks" / f"{task['task_id']}.html").read()
        assert task["left_media"] in page and two_afc.QUESTION in page
    index = open(tmp_path / "index.html").read()
    assert "Download answers" in index and index.count('type="radio"') == 20
    rows = list(csv.reader(open(tmp_path / "answers_template.csv")))
    assert rows[0] == ["task_id", "worker_id", "choice"] and len(rows) == 1 + 10 * 5
    # Same seed, same pairing and sides.
    again = two_afc.make_kit(_videos(10, 50), _videos(12, 200), str(tmp_path / "again"),
                             name_a="rjgan", name_b="mocogan", seed=3)
    assert [(t["left"], t["a_index"], t["b_index"]) for t in again["tasks"]] == \
        [(t["left"], t["a_index"], t["b_index"]) for t in manifest["tasks"]]


def test_frames_layout_and_images(tmp_path):
    manifest = two_afc.make_kit(_videos(4, 50), _videos(4, 200), str(tmp_path), layout="frames",
                                seed=1)
    strip = Image.open(tmp_path / manifest["tasks"][0]["left_media"])
    assert strip.format == "PNG" and strip.size == (3 * 8, 8)
    images = two_afc.make_kit(_videos(3, 50)[:, 0], _videos(3, 200)[:, 0], str(tmp_path / "img"))
    assert images["num_tasks"] == 3
    with pytest.raises(ValueError):
        two_afc.make_kit(_videos(2, 1), _videos(2, 2), str(tmp_path / "x"), num_pairs=3)


def _write_answers(path, manifest, prefer_a, workers=5, seed=0, blanks=0, header=None):
    """Synthetic answers: each worker picks model A with probability prefer_a."""
    rng = np.random.default_rng(seed)
    wins = n = 0
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header or ["task_id", "worker_id", "choice"])
        for task in manifest["tasks"]:
            for k in range(workers):
                picks_a = rng.random() < prefer_a
                a_side = "left" if task["left"] == manifest["model_a"] else "right"
                other = "right" if a_side == "left" else "left"
                w.writerow([task["task_id"], f"w{k}", a_side if picks_a else other])
                wins += picks_a
                n += 1
        for _ in range(blanks):
            w.writerow([manifest["tasks"][0]["task_id"], "", ""])
    return wins, n


def test_tally_synthetic_answer_file(tmp_path):
    manifest = _kit(tmp_path, n=40)
    answers = str(tmp_path / "answers.csv")
    wins, n = _write_answers(answers, manifest, prefer_a=0.7, blanks=3)
    report = two_afc.tally(str(tmp_path), [answers], bootstrap=2000)
    assert report["num_judgements"] == n == 200
    assert report["preference_a"] == pytest.approx(wins / n)
    assert report["preference_b"] == pytest.approx(1 - wins / n)
    lo, hi = report["ci95_wilson"]
    assert lo < wins / n < hi and lo > 0.5  # A is preferred, significantly
    assert lo == pytest.approx(two_afc.wilson_interval(wins, n)[0])
    blo, bhi = report["ci95_bootstrap_tasks"]
    assert blo < wins / n < bhi
    assert report["blank_rows"] == 3 and report["num_tasks_answered"] == 40
    assert report["num_workers"] == 5 and 0.3 < report["left_rate"] < 0.7
    json.dumps(report)


def test_wilson_interval_known_values():
    # 70 of 100: Wilson 95% interval (0.6041, 0.7810).
    lo, hi = two_afc.wilson_interval(70, 100)
    assert lo == pytest.approx(0.6041, abs=1e-4) and hi == pytest.approx(0.7810, abs=1e-4)
    assert two_afc.wilson_interval(0, 10)[0] == 0.0
    assert two_afc.wilson_interval(10, 10)[1] == pytest.approx(1.0)


def test_tally_crowdsourcing_columns_duplicates_and_errors(tmp_path):
    manifest = _kit(tmp_path, n=4)
    path = str(tmp_path / "batch.csv")
    _write_answers(path, manifest, 1.0, workers=2,
                   header=["Input.task_id", "WorkerId", "Answer.choice"])
    with open(path, "a") as f:  # the same worker answering the same pair again is ignored
        f.write(f"{manifest['tasks'][0]['task_id']},w0,left\n")
    report = two_afc.tally(manifest, [path], bootstrap=0)
    assert report["preference_a"] == 1.0 and report["duplicate_judgements_ignored"] == 1
    bad = str(tmp_path / "bad.csv")
    with open(bad, "w") as f:
        f.write("task_id,worker_id,choice\ntask_0001,w,middle\n")
    with pytest.raises(ValueError, match="left or right"):
        two_afc.tally(manifest, [bad])
    with open(bad, "w") as f:
        f.write("task_id,worker_id,choice\ntask_9999,w,left\n")
    with pytest.raises(ValueError, match="unknown task"):
        two_afc.tally(manifest, [bad])


def test_two_afc_tally_cli(tmp_path):
    manifest = _kit(tmp_path, n=6)
    answers = str(tmp_path / "answers.csv")
    _write_answers(answers, manifest, 0.8)
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bin", "two_afc"), "tally", f"--kit_dir={tmp_path}",
         f"--answers={answers}"], capture_output=True, text=True, cwd=ROOT, timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "rjgan preferred over mocogan" in proc.stdout and "Wilson" in proc.stdout
    assert json.load(open(tmp_path / "report.json"))["num_judgements"] == 30
