"""Two-alternative forced choice (2AFC) human evaluation kit (seed 003, section 5.1).

The seed's protocol: generate videos from two models, pair them at random
(128 pairs), show each pair side by side with the positions randomised so
that each model is on the left equally often, ask "which video is more
realistic?", have each pair judged by 5 workers, and report the mean worker
preference: the fraction of all judgements that chose a given model.

``make_kit`` writes a self-contained folder:

* ``index.html``: instructions and every task on one page, with a worker id
  box and a button that downloads the answers as CSV (works offline, no
  server: send the folder, or host it for a crowdsourcing platform);
* ``tasks/task_0001.html``...: one page per task (the two clips and the
  question), for platforms that show one task per page;
* ``media/``: the clips as looping GIFs (``layout="gif"``) or as PNG strips
  of all frames side by side (``layout="frames"``, the seed's choice for
  short videos); file names never reveal the model;
* ``manifest.json``: for each task which model is left and right, the
  media files and the sample indices, plus the models, seed and question;
* ``answers_template.csv``: ``task_id,worker_id,choice`` with one blank row
  per task and worker slot (``choice`` is ``left`` or ``right``).

``tally`` reads answer CSVs (this template's columns, or a crowdsourcing
export's ``Input.task_id``/``Answer.choice``/``WorkerId``) and reports the
preference for model A with a 95% Wilson score interval over judgements,
and, because the judgements of one pair are not independent, a 95%
percentile bootstrap interval that resamples tasks (pairs); quote the
bootstrap one when workers of a pair tend to agree.
"""
from __future__ import annotations

import csv
import datetime
import html
import json
import math
import os
from typing import Optional, Sequence

import numpy as np
from PIL import Image

QUESTION = "Which video looks more realistic?"
Z95 = 1.959963984540054
CHOICES = {"left": "left", "l": "left", "right": "right", "r": "right"}


def _uint8(videos) -> np.ndarray:
    v = np.asarray(videos)
    if v.dtype != np.uint8:
        v = np.clip(np.round((v.astype(np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)
    if v.ndim == 4:  # images: one-frame videos
        v = v[:, None]
    return v


def _write_media(video: np.ndarray, path_stem: str, layout: str, fps: float) -> str:
    if layout == "gif":
        frames = [Image.fromarray(f) for f in video]
        path = path_stem + ".gif"
        frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:],
                       duration=int(1000 / fps), loop=0)
    else:
        path = path_stem + ".png"
        Image.fromarray(np.concatenate(list(video), axis=1)).save(path)
    return path


def balanced_sides(num_tasks: int, rng) -> np.ndarray:
    """True where model A is on the left: exactly half the tasks (the odd one at random)."""
    sides = np.arange(num_tasks) < num_tasks // 2
    if num_tasks % 2:
        sides[-1] = bool(rng.integers(2))
    return rng.permutation(sides)


_STYLE = """body{font-family:sans-serif;max-width:70em;margin:1em auto;padding:0 1em}
.pair{display:flex;gap:2em;align-items:flex-start;margin:.5em 0}
.pair figure{margin:0;text-align:center}
.pair img{width:%dpx;image-rendering:pixelated;border:1px solid #888}
.task{border-top:1px solid #ccc;padding:.8em 0}"""


def _pair_html(task: dict, prefix: str, width: int) -> str:
    tid = html.escape(task["task_id"])
    cells = []
    for side in ("left", "right"):
        cells.append(
            f'<figure><img src="{prefix}{html.escape(task[side + "_media"])}" alt="{side}">'
            f'<figcaption><label><input type="radio" name="{tid}" value="{side}"> '
            f'{side.capitalize()}</label></figcaption></figure>')
    return (f'<div class="task" id="{tid}"><b>{tid}</b>'
            f'<div class="pair">{"".join(cells)}</div></div>')


def _index_html(manifest: dict, width: int) -> str:
    tasks = "\n".join(_pair_html(t, "", width) for t in manifest["tasks"])
    question = html.escape(manifest["question"])
    ids = json.dumps([t["task_id"] for t in manifest["tasks"]])
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{question}</title>
<style>{_STYLE % width}</style></head><body>
<h1>{question}</h1>
<p>{html.escape(manifest["instructions"])}</p>
<p><label>Worker id: <input id="worker" size="20"></label></p>
{tasks}
<p><button onclick="download()">Download answers (CSV)</button> <span id="status"></span></p>
<script>
const TASKS = {ids};
function download() {{
  const worker = document.getElementById("worker").value.trim() || "anonymous";
  let rows = ["task_id,worker_id,choice"], missing = 0;
  for (const t of TASKS) {{
    const c = document.querySelector('input[name="' + t + '"]:checked');
    if (!c) {{ missing++; continue; }}
    rows.push([t, worker.replace(/[,\\n"]/g, " "), c.value].join(","));
  }}
  document.getElementById("status").textContent =
    missing ? missing + " task(s) unanswered" : "all tasks answered";
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([rows.join("\\n") + "\\n"], {{type: "text/csv"}}));
  a.download = "answers_" + worker + ".csv";
  a.click();
}}
</script></body></html>
"""


def _task_html(manifest: dict, task: dict, width: int) -> str:
    question = html.escape(manifest["question"])
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(task["task_id"])}</title>
<style>{_STYLE % width}</style></head><body>
<h2>{question}</h2>
<form>{_pair_html(task, "../", width)}</form>
</body></html>
"""


def make_kit(videos_a, videos_b, out_dir: str, name_a: str = "A", name_b: str = "B",
             num_pairs: Optional[int] = None, seed: int = 0, workers_per_task: int = 5,
             layout: str = "gif", fps: float = 8.0, display_width: int = 256,
             question: str = QUESTION, sources: Optional[dict] = None) -> dict:
    """Writes the kit (see module doc) and returns the manifest.

    Args:
      videos_a, videos_b: [N, T, H, W, 3] (uint8 or [-1, 1]) or images [N, H, W, 3].
      num_pairs: tasks (default: as many as the shorter set); each video is used once.
      layout: "gif" (animated, side by side) or "frames" (all frames in a row).
      sources: where each model came from, recorded in the manifest.
    """
    if layout not in ("gif", "frames"):
        raise ValueError(f"layout must be 'gif' or 'frames', got {layout!r}")
    if name_a == name_b:
        raise ValueError("the two models need different names")
    a, b = _uint8(videos_a), _uint8(videos_b)
    n = min(len(a), len(b)) if num_pairs is None else num_pairs
    if n < 1 or n > min(len(a), len(b)):
        raise ValueError(f"num_pairs={n} but there are {len(a)} and {len(b)} videos")
    rng = np.random.default_rng([seed, 0x2AFC])
    idx_a, idx_b = rng.permutation(len(a))[:n], rng.permutation(len(b))[:n]
    a_left = balanced_sides(n, rng)
    os.makedirs(os.path.join(out_dir, "media"), exist_ok=True)
    os.makedirs(os.path.join(out_dir, "tasks"), exist_ok=True)
    tasks = []
    for t in range(n):
        tid = f"task_{t + 1:04d}"
        left, right = (a[idx_a[t]], b[idx_b[t]]) if a_left[t] else (b[idx_b[t]], a[idx_a[t]])
        media = {}
        for side, video in (("left", left), ("right", right)):
            path = _write_media(video, os.path.join(out_dir, "media", f"{tid}_{side[0]}"),
                                layout, fps)
            media[side] = os.path.relpath(path, out_dir).replace(os.sep, "/")
        tasks.append({"task_id": tid, "left": name_a if a_left[t] else name_b,
                      "right": name_b if a_left[t] else name_a,
                      "left_media": media["left"], "right_media": media["right"],
                      "a_index": int(idx_a[t]), "b_index": int(idx_b[t])})
    manifest = {
        "kind": "tfvidgen 2AFC kit", "version": 1,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model_a": name_a, "model_b": name_b, "sources": sources or {},
        "question": question,
        "instructions": ("Each task shows two clips side by side. Pick the one that looks "
                         "more realistic; there is no 'same' answer, so go with your best guess."),
        "layout": layout, "seed": seed, "workers_per_task": workers_per_task,
        "num_tasks": n, "a_on_left": int(a_left.sum()), "tasks": tasks}
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    with open(os.path.join(out_dir, "index.html"), "w") as f:
        f.write(_index_html(manifest, display_width))
    for task in tasks:
        with open(os.path.join(out_dir, "tasks", task["task_id"] + ".html"), "w") as f:
            f.write(_task_html(manifest, task, display_width))
    with open(os.path.join(out_dir, "answers_template.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["task_id", "worker_id", "choice"])
        for task in tasks:
            for _ in range(workers_per_task):
                writer.writerow([task["task_id"], "", ""])
    return manifest


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple:
    """Wilson score interval of a binomial proportion."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def _column(header: Sequence[str], *names: str) -> Optional[int]:
    lowered = [h.strip().lower() for h in header]
    for name in names:
        if name.lower() in lowered:
            return lowered.index(name.lower())
    return None


def read_answers(paths: Sequence[str], manifest: dict) -> tuple:
    """(answers [(task_id, worker_id, 'left'|'right')], number of blank rows).

    Raises ValueError on an unknown task id or an answer that is not left/right.
    """
    known = {t["task_id"] for t in manifest["tasks"]}
    answers, blank = [], 0
    for path in paths:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        if not rows:
            continue
        header = rows[0]
        c_task = _column(header, "task_id", "Input.task_id")
        c_choice = _column(header, "choice", "Answer.choice")
        c_worker = _column(header, "worker_id", "WorkerId")
        if c_task is None or c_choice is None:
            raise ValueError(f"{path}: needs columns task_id and choice (or Input.task_id "
                             f"and Answer.choice); found {header}")
        for line, row in enumerate(rows[1:], start=2):
            if not any(cell.strip() for cell in row):
                continue
            task = row[c_task].strip() if c_task < len(row) else ""
            choice = row[c_choice].strip().lower() if c_choice < len(row) else ""
            worker = row[c_worker].strip() if c_worker is not None and c_worker < len(row) else ""
            if not choice:
                blank += 1
                continue
            if task not in known:
                raise ValueError(f"{path}:{line}: unknown task id {task!r}")
            if choice not in CHOICES:
                raise ValueError(f"{path}:{line}: choice must be left or right, got {choice!r}")
            answers.append((task, worker or f"{os.path.basename(path)}:{line}", CHOICES[choice]))
    return answers, blank


def tally(manifest, answer_paths: Sequence[str], bootstrap: int = 10000, seed: int = 0) -> dict:
    """Mean preference for model A with 95% intervals (see module doc).

    Args:
      manifest: the kit's manifest (dict) or the path of manifest.json / its folder.
      answer_paths: answer CSV files.
      bootstrap: resamples of tasks for the bootstrap interval (0: none).
    """
    if isinstance(manifest, str):
        path = os.path.join(manifest, "manifest.json") if os.path.isdir(manifest) else manifest
        with open(path) as f:
            manifest = json.load(f)
    answers, blank = read_answers(answer_paths, manifest)
    a = manifest["model_a"]
    side_of_a = {t["task_id"]: ("left" if t["left"] == a else "right") for t in manifest["tasks"]}
    seen, duplicates, per_task, lefts = set(), 0, {}, 0
    for task, worker, choice in answers:
        if (task, worker) in seen:  # a worker judges a pair once: keep the first answer
            duplicates += 1
            continue
        seen.add((task, worker))
        lefts += choice == "left"
        counts = per_task.setdefault(task, [0, 0])  # [prefers A, judgements]
        counts[0] += choice == side_of_a[task]
        counts[1] += 1
    wins = sum(c[0] for c in per_task.values())
    n = sum(c[1] for c in per_task.values())
    report = {
        "model_a": a, "model_b": manifest["model_b"], "question": manifest["question"],
        "num_judgements": n, "num_tasks_answered": len(per_task),
        "num_tasks": len(manifest["tasks"]),
        "num_workers": len({w for (_, w) in seen}),
        "blank_rows": blank, "duplicate_judgements_ignored": duplicates,
        "preference_a": wins / n if n else None,
        "preference_b": (n - wins) / n if n else None,
        "ci95_wilson": list(wilson_interval(wins, n)) if n else None,
        "left_rate": lefts / n if n else None,
        "ci_method": ("Wilson score interval over judgements (ci95_wilson); percentile "
                      "bootstrap over tasks (ci95_bootstrap_tasks)"),
    }
    if bootstrap and per_task:
        rng = np.random.default_rng(seed)
        counts = np.array(list(per_task.values()), np.float64)
        picks = rng.integers(0, len(counts), size=(bootstrap, len(counts)))
        rates = counts[picks, 0].sum(1) / counts[picks, 1].sum(1)
        report["ci95_bootstrap_tasks"] = [float(np.quantile(rates, 0.025)),
                                          float(np.quantile(rates, 0.975))]
        report["bootstrap_resamples"] = bootstrap
    report["per_task"] = {t: {"prefers_a": c[0], "judgements": c[1]}
                          for t, c in sorted(per_task.items())}
    return report
