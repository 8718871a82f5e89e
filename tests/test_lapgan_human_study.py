"""The real-or-generated study kit of LAPGAN's chapter (seed 002, section 4.4.3)."""
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from tfvidgen.metrics import real_or_fake


def _kit(tmp_path, n=3):
    rng = np.random.default_rng(0)
    sources = {"real": rng.integers(0, 256, [n, 8, 8, 3], dtype=np.uint8),
               "lapgan": rng.uniform(-1, 1, [n, 8, 8, 3]).astype(np.float32)}
    return real_or_fake.make_kit(sources, str(tmp_path), examples=sources["real"][:2],
                                 display_size=32, fixation_ms=10)


def test_kit_is_self_contained_and_hides_the_sources(tmp_path):
    manifest = _kit(tmp_path)
    page = (tmp_path / "index.html").read_text()
    assert len(manifest["images"]) == 6 and manifest["sources"] == ["lapgan", "real"]
    assert manifest["durations_ms"][0] == 50 and manifest["durations_ms"][-1] == 2000
    assert len(manifest["durations_ms"]) == 11
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # nothing from the network
    assert page.count("data:image/png;base64,") == 6 + 2  # trials and real examples
    assert "lapgan" not in page  # sources only in the manifest
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest


def test_tally_and_plot(tmp_path):
    manifest = _kit(tmp_path)
    by_source = {}
    for key, entry in manifest["images"].items():
        by_source.setdefault(entry["source"], []).append(key)

    def answers(subject, real_says, fake_says):
        trials = [{"image": k, "duration_ms": 50, "answer": real_says} for k in by_source["real"]]
        trials += [{"image": k, "duration_ms": 2000, "answer": a}
                   for k, a in zip(by_source["lapgan"], fake_says)]
        return {"kit_id": manifest["kit_id"], "subject": subject, "trials": trials}

    result = real_or_fake.tally(manifest, [
        answers("a", "real", ["real", "generated", "generated"]),
        answers("b", "generated", ["real", "real", "real"])])
    assert result["num_subjects"] == 2
    assert result["sources"]["real"]["mean"][0] == pytest.approx(0.5)
    assert result["sources"]["real"]["std"][0] == pytest.approx(0.5)
    assert result["sources"]["lapgan"]["mean"][-1] == pytest.approx((1 / 3 + 1) / 2)
    assert result["sources"]["lapgan"]["n"][-1] == 6
    assert np.isnan(result["sources"]["real"]["mean"][1])
    path = real_or_fake.plot(result, str(tmp_path / "fig.png"))
    assert os.path.getsize(path) > 1000
    with pytest.raises(ValueError, match="kit"):
        real_or_fake.tally(manifest, [{"kit_id": "other", "trials": []}])


CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed")
def test_page_runs_in_a_headless_browser(tmp_path):
    """Drives the page in headless Chromium (virtual time) and reads back its answers."""
    manifest = _kit(tmp_path, n=2)
    driver = """<script>
window.addEventListener("load", function() {
  document.getElementById("subject").value = "robot";
  window.realOrFake.start();
  let k = 0;
  const timer = setInterval(function() {
    if (window.realOrFake.ready()) { window.realOrFake.answer(k % 2 ? "real" : "generated"); k++; }
    const a = window.realOrFake.answers();
    if (a.finished) {
      clearInterval(timer);
      const out = document.createElement("pre"); out.id = "out";
      out.textContent = JSON.stringify(a); document.body.appendChild(out);
    }
  }, 20);
});
</script></body>"""
    page = (tmp_path / "index.html").read_text().replace("</body>", driver, 1)
    (tmp_path / "driven.html").write_text(page)
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--virtual-time-budget=600000", "--dump-dom",
                           f"file://{tmp_path / 'driven.html'}"],
                          capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="out">(.*?)</pre>', proc.stdout, re.S)
    assert found, proc.stderr[-2000:]
    answers = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert answers["subject"] == "robot" and answers["kit_id"] == manifest["kit_id"]
    assert sorted(t["image"] for t in answers["trials"]) == sorted(manifest["images"])
    for trial in answers["trials"]:
        assert trial["duration_ms"] in manifest["durations_ms"]
        assert trial["answer"] in ("real", "generated")
        assert trial["shown_ms"] >= trial["duration_ms"] - 20
    result = real_or_fake.tally(manifest, [answers])
    assert sum(sum(r["n"]) for r in result["sources"].values()) == 4
