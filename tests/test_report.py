"""`paperzoo report`: a self-contained HTML page per run (and a comparison), checked as text and in
headless Chromium (Debian's /usr/bin/chromium driven by Playwright; no browser download)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from conftest import only_run_dir, write_config
from paperzoo.report.html import read_run, spectrogram_png

CHROMIUM = Path(os.environ.get("PAPERZOO_CHROMIUM", "/usr/bin/chromium"))
# what the CI sets: the browser test must run (a missing browser is a failure, not a skip)
REQUIRE_BROWSER = os.environ.get("PAPERZOO_REQUIRE_BROWSER") == "1"
# a report to open instead of the one built here (CI points it at the demo's runs/demo/report.html)
GIVEN_REPORT = os.environ.get("PAPERZOO_REPORT_HTML")
ARTIFACTS = Path(os.environ.get("PAPERZOO_ARTIFACTS", Path(__file__).resolve().parent.parent / "artifacts"))


def tone(seconds: float, rate: int, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def make_run_with_media(cli, tmp_path: Path, name: str = "tiny", seed: int = 0) -> Path:
    """A real (tiny) training run, evaluated, plus the kinds of files other tasks leave in runs."""
    config = write_config(tmp_path / f"{name}.yaml", tmp_path / "runs", name=name, seed=seed)
    assert cli("train", config)[0] == 0
    run = only_run_dir(tmp_path / "runs", name)
    assert cli("evaluate", "--model", run)[0] == 0
    media = run / "samples"
    media.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (16, 24, 3), dtype=np.uint8)).save(media / "grid.png")
    frames = [Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)) for i in range(4)]
    frames[0].save(media / "strip.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    sf.write(media / "speech_pcm16.wav", tone(0.5, 8000), 8000, subtype="PCM_16")
    sf.write(media / "speech_float.wav", tone(0.25, 22050, 220), 22050, subtype="FLOAT")  # browsers differ on float WAV
    sf.write(media / "speech_24bit.wav", np.stack([tone(0.3, 44100), tone(0.3, 44100, 330)], 1), 44100, subtype="PCM_24")
    (media / "recommendations.json").write_text(json.dumps([{"rank": 1, "item": "x3", "score": 0.9}, {"rank": 2, "item": "x7", "score": 0.5}]))
    return run


def test_report_embeds_everything_and_needs_no_network(cli, tmp_path):
    run = make_run_with_media(cli, tmp_path)
    (run / "samples" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)  # a torn PNG: listed, not embedded
    (run / "samples" / "broken.wav").write_bytes(b"RIFF\x10\0\0\0WAVEfmt ")
    code, out, err = cli("report", run)
    assert code == 0, err
    page = (run / "report.html").read_text()
    assert str(run / "report.html") in out
    # self-contained: nothing is fetched (no http(s) or relative src/href; anchors within the page only)
    assert not re.search(r"""(src|href)=['"](?!data:|#)""", page)
    assert "<script" not in page
    assert page.count("<audio ") == 3 and page.count("data:audio/wav;base64,") == 3
    assert page.count("data:image/gif;base64,") == 1
    assert "train/loss" in page and "val/accuracy" in page  # metric table and curves
    assert "paperzoo evaluate" in page and "LogitMarginLoss" in page  # eval.json column, config
    assert "<td>x3</td>" in page  # the JSON table
    assert "samples/broken.png: unreadable" in page and "samples/broken.wav: unreadable" in page
    assert not list(run.glob(".*.tmp"))


def test_report_reads_the_audio_it_embeds():
    """The spectrogram is a real STFT: a pure tone is one bright row at its frequency."""
    from io import BytesIO

    png = spectrogram_png(tone(1.0, 8000, 1000), 8000, height=128)
    image = np.asarray(Image.open(BytesIO(png)).convert("L"), dtype=float)
    row = int(image.mean(1).argmax())
    assert abs((1 - row / 127) * 4000 - 1000) < 100  # top row is 4 kHz (Nyquist), bottom 0 Hz


def test_comparison_of_two_runs(cli, tmp_path):
    a = make_run_with_media(cli, tmp_path, "first", seed=0)
    b = make_run_with_media(cli, tmp_path, "second", seed=1)
    out = tmp_path / "compare.html"
    code, _, err = cli("report", a, b, "-o", out, "--title", "two seeds")
    assert code == 0, err
    page = out.read_text()
    assert "id='comparison'" in page and "shared curves" in page
    finals = [read_run(r).final_metrics()["val/accuracy"][0] for r in (a, b)]
    table = page.split("id='comparison'")[1].split("</table>")[0]
    row = next(r for r in table.split("<tr>") if "<td>val/accuracy</td>" in r)
    assert [float(v) for v in re.findall(r"<td class='num'>([^<]+)</td>", row)] == pytest.approx(finals, rel=1e-5)


@pytest.mark.parametrize("make_bad", ["missing", "not_a_run"])
def test_report_of_a_non_run_is_a_one_line_error(cli, tmp_path, make_bad):
    target = tmp_path / "folder"
    if make_bad == "not_a_run":
        target.mkdir()
        (target / "metrics.csv").write_text("step\n")
    code, _, err = cli("report", target, "-o", tmp_path / "r.html")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "paperzoo report: error:" in err
    assert not (tmp_path / "r.html").exists() and not list(tmp_path.glob(".r.html*"))


def _browser_or_skip():
    why = None
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        why = "the playwright package is not installed (pip install playwright; make test installs it)"
    if why is None and not CHROMIUM.is_file():
        why = f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it)"
    if why:
        if REQUIRE_BROWSER:
            pytest.fail(f"browser test required (PAPERZOO_REQUIRE_BROWSER=1) but {why}")
        print(f"\n!!! BROWSER TEST SKIPPED: {why} !!!")
        pytest.skip(f"BROWSER TEST SKIPPED: {why}")


def test_report_in_headless_chromium(cli, tmp_path):
    """No console errors, every image decoded, every audio element playable with a duration."""
    _browser_or_skip()
    from playwright.sync_api import sync_playwright

    if GIVEN_REPORT:
        page_path = Path(GIVEN_REPORT).resolve()
        assert page_path.is_file(), f"PAPERZOO_REPORT_HTML={GIVEN_REPORT} does not exist"
    else:
        page_path = tmp_path / "report.html"
        runs = [make_run_with_media(cli, tmp_path, "first"), make_run_with_media(cli, tmp_path, "second", seed=1)]
        assert cli("report", *runs, "-o", page_path)[0] == 0
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url[:80]}"))
            page.goto(page_path.as_uri(), wait_until="load")
            images = page.eval_on_selector_all("img", "els => els.map(e => [e.alt, e.complete, e.naturalWidth])")
            page.wait_for_function("() => [...document.querySelectorAll('audio')].every(a => a.readyState >= 1 || a.error)",
                                   timeout=60_000)
            audio = page.eval_on_selector_all("audio", """els => els.map(a => ({src: a.currentSrc.slice(0, 30),
                duration: a.duration, error: a.error ? a.error.code : null, canPlay: a.canPlayType('audio/wav')}))""")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = ARTIFACTS / ("demo_report.png" if GIVEN_REPORT else "report.png")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    print(f"\nscreenshot: {shot} ({len(images)} images, {len(audio)} audio elements)")
    assert not errors, errors
    assert images and all(complete and width > 0 for _, complete, width in images), [i for i in images if not i[2]]
    assert audio, "the report has no audio element"
    bad = [a for a in audio if a["error"] is not None or not a["canPlay"] or not a["duration"] > 0 or not a["src"].startswith("data:audio/")]
    assert not bad, bad
    assert shot.stat().st_size > 10_000
    if not GIVEN_REPORT:
        shutil.copy(page_path, ARTIFACTS / "report.html")


def test_report_shows_wall_time_and_throughput_and_single_points_as_numbers(cli, tmp_path):
    config = write_config(tmp_path / "one.yaml", tmp_path / "runs", name="one",
                          trainer={"max_steps": 12, "val_every": 50, "checkpoint_every": 12, "log_every": 4, "progress_bar": False})
    assert cli("train", config)[0] == 0
    run = only_run_dir(tmp_path / "runs", "one")
    timing = json.loads((run / "timing.json").read_text())
    page_run = read_run(run)
    assert page_run.timing == timing and timing["steps"] == 12
    assert len(page_run.series["val/accuracy"][0]) == 1  # validated once, at the last step
    code, _, err = cli("report", run)
    assert code == 0, err
    page = (run / "report.html").read_text()
    assert f"trained 12 steps (to step 12) in {timing['wall_seconds']:.1f} s wall time" in page
    assert "logged once (no curve)" in page and "val/accuracy" in page.split("logged once (no curve)")[1]
