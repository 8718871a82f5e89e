"""Human "real or generated?" study with timed presentation (Denton, thesis section 4.4.3).

The thesis' experiment: subjects see, at random, real CIFAR-10 images and
samples of three models (LAPGAN, class-conditional LAPGAN, the plain GAN),
each for one of 11 presentation times from 50 ms to 2000 ms, after which a
gray mask replaces the image; they click "real" or "generated". Before the
experiment they see examples of real images. Fig. 4.9 plots, per source,
the fraction of images judged real against presentation time, with error
bars of +-1 standard deviation across subjects.

``make_kit`` writes a self-contained folder:

* ``index.html``: the whole experiment in one page, images embedded as data
  URIs (no network, no server: open the file in a browser). It shows real
  examples, then the trials in a random order with random presentation
  times, and records each answer; "Download answers" saves them as a JSON
  file (``answers_<subject>.json``). ``window.realOrFake.answers()``
  returns the same object (for automation and tests);
* ``manifest.json``: the images' sources (never shown to the subject: the
  page knows images by anonymous ids), the presentation times and settings.

``tally`` reads answer files against the manifest; ``plot`` draws the
accuracy-vs-time figure (``bin/lapgan_human_study``).
"""
from __future__ import annotations

import base64
import datetime
import html
import io
import json
import os
from typing import Dict, Optional, Sequence

import numpy as np
from PIL import Image

# 11 presentation times from 50 ms to 2000 ms (the thesis' range), log-spaced.
DURATIONS_MS = tuple(int(round(d)) for d in np.geomspace(50, 2000, 11))
MASK_GRAY = 128


def _png_data_uri(image: np.ndarray, size: int) -> str:
    img = Image.fromarray(np.asarray(image, np.uint8))
    if img.size != (size, size):
        img = img.resize((size, size), Image.NEAREST)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _uint8(images) -> np.ndarray:
    x = np.asarray(images)
    if x.dtype != np.uint8:
        x = np.clip(np.round((x.astype(np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)
    return x


_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Real or generated?</title>
<style>
body {{ font-family: sans-serif; background: #808080; color: #000; text-align: center; }}
#stage {{ width: {size}px; height: {size}px; margin: 20px auto;
         background: rgb({gray},{gray},{gray}); }}
#stage img {{ width: {size}px; height: {size}px; image-rendering: pixelated; }}
.examples img {{ width: 64px; height: 64px; margin: 2px; image-rendering: pixelated; }}
button {{ font-size: 18px; margin: 8px; padding: 6px 18px; }}
.hidden {{ display: none; }}
</style></head><body>
<div id="intro">
<h2>Real or generated?</h2>
<p>{instructions}</p>
<p>Examples of real images:</p>
<div class="examples">{examples}</div>
<p>Your name or id: <input id="subject" value=""></p>
<button id="start">Start</button>
</div>
<div id="trial" class="hidden">
<p id="progress"></p>
<div id="stage"></div>
<div id="buttons" class="hidden">
<button id="real">Real (r)</button><button id="fake">Generated (g)</button>
</div>
</div>
<div id="done" class="hidden">
<p>Thank you. Please download your answers and send the file back.</p>
<button id="download">Download answers</button>
</div>
<script>
(function() {{
  const KIT = {kit_json};
  const IMAGES = {images_json};
  const answers = {{kit_id: KIT.kit_id, subject: "", started: null, finished: null, trials: []}};
  let order = [], index = 0, shown = null, onsetTime = 0, offsetTime = 0;
  function shuffle(a) {{
    for (let i = a.length - 1; i > 0; i--) {{
      const j = Math.floor(Math.random() * (i + 1)); [a[i], a[j]] = [a[j], a[i]];
    }}
    return a;
  }}
  function $(id) {{ return document.getElementById(id); }}
  function mask() {{ $("stage").innerHTML = ""; }}
  function next() {{
    if (index >= order.length) {{ finish(); return; }}
    $("buttons").classList.add("hidden");
    $("progress").textContent = (index + 1) + " / " + order.length;
    mask();
    const trial = order[index];
    setTimeout(function() {{
      const img = new Image();
      img.onload = function() {{
        $("stage").appendChild(img);
        let started = false;
        const onset = function() {{  // at the next frame (or 50 ms without frames)
          if (started) return;
          started = true;
          onsetTime = performance.now();
          setTimeout(function() {{
            mask();
            offsetTime = performance.now();
            shown = trial;
            $("buttons").classList.remove("hidden");
          }}, trial.duration_ms);
        }};
        requestAnimationFrame(onset);
        setTimeout(onset, 50);
      }};
      img.src = IMAGES[trial.image];
    }}, KIT.fixation_ms);
  }}
  function answer(choice) {{
    if (shown === null) return;
    const trial = shown; shown = null;
    answers.trials.push({{image: trial.image, duration_ms: trial.duration_ms,
      shown_ms: Math.round(offsetTime - onsetTime), answer: choice,
      response_ms: Math.round(performance.now() - offsetTime)}});
    index += 1;
    next();
  }}
  function finish() {{
    answers.finished = new Date().toISOString();
    $("trial").classList.add("hidden");
    $("done").classList.remove("hidden");
  }}
  function start() {{
    answers.subject = $("subject").value || "anonymous";
    answers.started = new Date().toISOString();
    order = [];
    for (const image of Object.keys(IMAGES)) {{
      if (KIT.trial_images.indexOf(image) < 0) continue;
      order.push({{image: image, duration_ms:
        KIT.durations_ms[Math.floor(Math.random() * KIT.durations_ms.length)]}});
    }}
    shuffle(order);
    $("intro").classList.add("hidden");
    $("trial").classList.remove("hidden");
    next();
  }}
  function download() {{
    const blob = new Blob([JSON.stringify(answers, null, 1)], {{type: "application/json"}});
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "answers_" + answers.subject.replace(/[^A-Za-z0-9_-]/g, "_") + ".json";
    document.body.appendChild(link); link.click(); link.remove();
  }}
  $("start").onclick = start;
  $("real").onclick = function() {{ answer("real"); }};
  $("fake").onclick = function() {{ answer("generated"); }};
  $("download").onclick = download;
  document.addEventListener("keydown", function(e) {{
    if (e.key === "r") answer("real");
    if (e.key === "g" || e.key === "f") answer("generated");
  }});
  window.realOrFake = {{answers: function() {{ return answers; }}, start: start,
                        answer: answer, ready: function() {{ return shown !== null; }}}};
}})();
</script></body></html>
"""


def make_kit(sources: Dict[str, np.ndarray], out_dir: str, real: str = "real",
             examples: Optional[np.ndarray] = None, durations_ms: Sequence[int] = DURATIONS_MS,
             display_size: int = 128, fixation_ms: int = 500, seed: int = 0) -> dict:
    """Writes the study (``index.html``, ``manifest.json``) and returns the manifest.

    Args:
      sources: name -> images [N, H, W, 3] (uint8 or [-1, 1] floats); one of
        them, ``real``, holds real images, the others models' samples.
      out_dir: the kit's folder (created).
      examples: real images shown before the experiment (not trials).
      durations_ms: presentation times (drawn uniformly per trial).
      display_size: shown side in pixels (nearest-neighbour enlargement).
      fixation_ms: blank before each image.
      seed: the anonymous ids' shuffle.
    """
    if real not in sources:
        raise ValueError(f"sources must include the real images under {real!r}")
    rng = np.random.default_rng(seed)
    entries = [(name, i, img) for name, images in sources.items()
               for i, img in enumerate(_uint8(images))]
    perm = rng.permutation(len(entries))
    images, table = {}, {}
    for rank, j in enumerate(perm):
        name, i, img = entries[j]
        key = f"i{rank:05d}"
        images[key] = _png_data_uri(img, display_size)
        table[key] = {"source": name, "index": int(i)}
    kit_id = f"rof-{seed}-{len(entries)}-{datetime.date.today().isoformat()}"
    example_tags = "".join(f'<img src="{_png_data_uri(x, display_size)}" alt="real example">'
                           for x in (_uint8(examples) if examples is not None else []))
    kit = {"kit_id": kit_id, "durations_ms": [int(d) for d in durations_ms],
           "fixation_ms": int(fixation_ms), "trial_images": sorted(images)}
    instructions = ("Each image is shown briefly, then replaced by a gray mask. Decide "
                    "whether it was a real photograph or generated by a computer, and click "
                    "the button (or press r / g).")
    page = _PAGE.format(size=int(display_size), gray=MASK_GRAY,
                        instructions=html.escape(instructions), examples=example_tags,
                        kit_json=json.dumps(kit), images_json=json.dumps(images))
    os.makedirs(out_dir, exist_ok=True)
    manifest = {**kit, "real": real, "sources": sorted(sources), "images": table,
                "display_size": int(display_size)}
    with open(os.path.join(out_dir, "index.html"), "w") as f:
        f.write(page)
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return manifest


def tally(manifest: dict, answers: Sequence[dict]) -> dict:
    """Fraction judged real per source and presentation time, over subjects.

    Args:
      manifest: ``make_kit``'s manifest.
      answers: answer objects (the page's JSON files, loaded), one per subject.
    Returns:
      {"durations_ms": [...], "sources": {name: {"mean": [...], "std": [...],
      "n": [...]}}}: per duration, the mean over subjects of each subject's
      fraction of "real" answers, the standard deviation across subjects
      (Fig. 4.9's error bars) and the number of judgements; NaN where none.
      Answers of another kit are refused.
    """
    durations = list(manifest["durations_ms"])
    per_subject = {}
    for a in answers:
        if a.get("kit_id") != manifest["kit_id"]:
            raise ValueError(f"answers of kit {a.get('kit_id')!r}, not {manifest['kit_id']!r}")
        counts = per_subject.setdefault(a.get("subject", "anonymous"), {})
        for t in a["trials"]:
            source = manifest["images"][t["image"]]["source"]
            key = (source, int(t["duration_ms"]))
            real, total = counts.get(key, (0, 0))
            counts[key] = (real + (t["answer"] == "real"), total + 1)
    out = {"durations_ms": durations, "num_subjects": len(per_subject), "sources": {}}
    for source in manifest["sources"]:
        means, stds, ns = [], [], []
        for d in durations:
            fractions = [c[(source, d)][0] / c[(source, d)][1]
                         for c in per_subject.values() if (source, d) in c]
            ns.append(sum(c[(source, d)][1] for c in per_subject.values() if (source, d) in c))
            means.append(float(np.mean(fractions)) if fractions else float("nan"))
            stds.append(float(np.std(fractions)) if fractions else float("nan"))
        out["sources"][source] = {"mean": means, "std": stds, "n": ns}
    return out


def plot(result: dict, path: str, title: str = "Judged real vs presentation time") -> str:
    """Fig. 4.9: fraction judged real against presentation time (log axis), one
    curve per source with +-1 std across subjects. Writes a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    x = np.asarray(result["durations_ms"], float)
    for source, r in result["sources"].items():
        ax.errorbar(x, r["mean"], yerr=r["std"], marker="o", capsize=3, label=source)
    ax.set_xscale("log")
    ax.set_xticks(x, [str(int(d)) for d in x], rotation=45)
    ax.minorticks_off()
    ax.set_xlabel("presentation time (ms)")
    ax.set_ylabel("fraction of images judged real")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
