"""``paperzoo report``: one self-contained HTML page for one or more run directories.

For each run (a folder with ``config.yaml``, as ``paperzoo train`` writes it) the page shows:

- the resolved config (collapsed);
- a metric table: the last logged value of every metric in ``metrics.csv`` and the metrics of
  ``eval.json`` (``paperzoo evaluate``);
- the curves of every metric, drawn here from ``metrics.csv``;
- every image under the run (PNG / JPEG / GIF: reconstructions, samples per class, spectrogram
  figures, animated video strips), grouped by folder;
- every audio file under the run (separated sources, converted speech): an ``<audio>`` player and
  its spectrogram; every MP4: a ``<video>`` player;
- every JSON table under the run (a list of flat records, e.g. ``recommendations.json``).

With several runs a comparison comes first: the final value of every metric side by side, and the
curves of the metrics they share overlaid. Everything is embedded as ``data:`` URIs and the page has
no scripts, fonts or external links, so it works offline, from any folder, without a server.
A file that cannot be read is listed under the run with the reason; it never stops the report.
"""

from __future__ import annotations

import base64
import html
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from paperzoo.errors import PaperzooError
from paperzoo.io.atomic import atomic_write_text
from paperzoo.report.curves import Series, curves_figure, read_metrics

IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif"}
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg"}
VIDEO_TYPES = {".mp4": "video/mp4", ".webm": "video/webm"}
SKIPPED_DIRS = {"checkpoints", "tensorboard", "__pycache__"}
DERIVED = {"plots/metrics.png"}  # the report draws the curves itself
MAX_BYTES = 8 * 2**20  # per embedded file
MAX_PER_KIND = 48  # images / audio / videos / tables per run
MAX_AUDIO_SECONDS = 60

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1200px;padding:1em 2em;color:#222}
h1{font-size:1.6em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}h3{margin:1.2em 0 .4em;font-size:1.05em;color:#444}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.2em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f7f7f7;padding:.8em;overflow:auto;max-height:30em;font-size:12px}
.gallery{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;max-width:100%}figcaption{font-size:12px;color:#555;word-break:break-all}
figure img{max-width:100%;image-rendering:pixelated;border:1px solid #eee}img.curves{max-width:100%}
.audio{display:flex;align-items:center;gap:12px;margin:.4em 0}.audio img{height:96px;border:1px solid #eee}
.muted{color:#777}nav a{margin-right:1em}
"""


def _data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _table(headers: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(
        f"<td class='num'>{_fmt(v)}</td>" if isinstance(v, (int, float)) and not isinstance(v, bool)
        else f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


@dataclass
class Run:
    """What the report reads from one run directory."""

    path: Path
    label: str
    config_text: str
    series: Series = field(default_factory=dict)
    evaluation: dict[str, float] = field(default_factory=dict)
    images: list[tuple[str, str, str, int]] = field(default_factory=list)  # (relative path, data URI, size text, shown width)
    audio: list[tuple[str, str, str, float]] = field(default_factory=list)  # (relative path, wav URI, spectrogram URI, seconds)
    videos: list[tuple[str, str]] = field(default_factory=list)
    tables: list[tuple[str, list[str], list[list]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    timing: dict = field(default_factory=dict)  # timing.json: wall time and throughput of the last training call

    def final_metrics(self) -> dict[str, tuple[float, int]]:
        return {k: (values[-1], steps[-1]) for k, (steps, values) in self.series.items()}


def _files(run_dir: Path) -> list[Path]:
    found = []
    for path in sorted(run_dir.rglob("*")):
        rel = path.relative_to(run_dir)
        if not path.is_file() or any(p in SKIPPED_DIRS or p.startswith(".") for p in rel.parts) or path.name.endswith(".tmp"):
            continue
        found.append(path)
    return found


def _image(path: Path) -> tuple[str, str]:
    from PIL import Image

    with Image.open(path) as im:
        im.verify()  # a truncated or corrupt file fails here, not in the reader's browser
    with Image.open(path) as im:
        size = f"{im.width}x{im.height}" + (f", {im.n_frames} frames" if getattr(im, "n_frames", 1) > 1 else "")
        scale = max(1, min(8, 192 // max(im.width, 1)))  # small frames and code maps are shown enlarged
        width = im.width * scale
    return _data_uri(IMAGE_TYPES[path.suffix.lower()], path.read_bytes()), size, width


def spectrogram_png(wave: np.ndarray, rate: int, height: int = 128, max_width: int = 640) -> bytes:
    """Log-magnitude spectrogram (32 ms Hann windows, 75% overlap, 80 dB range), low frequencies at the bottom."""
    from matplotlib import colormaps
    from PIL import Image

    n = max(16, int(2 ** round(np.log2(0.032 * rate))))
    hop = n // 4
    wave = np.pad(wave, (0, max(0, n - len(wave))))
    frames = np.lib.stride_tricks.sliding_window_view(wave, n)[::hop] * np.hanning(n)
    db = 20 * np.log10(np.abs(np.fft.rfft(frames, axis=1)).T + 1e-8)
    db = np.clip((db - (db.max() - 80)) / 80, 0, 1)[::-1]
    rgb = (colormaps["magma"](db)[..., :3] * 255).astype(np.uint8)
    image = Image.fromarray(rgb).resize((min(max_width, max(64, rgb.shape[1] * 2)), height), Image.BILINEAR)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _audio(path: Path) -> tuple[str, str, float]:
    import soundfile as sf

    from paperzoo.io.audio import read_audio

    wave, rate = read_audio(path, allow_silent=True, quiet=True)
    seconds = len(wave) / rate
    if seconds > MAX_AUDIO_SECONDS:
        raise ValueError(f"longer than {MAX_AUDIO_SECONDS} s ({seconds:.0f} s)")
    buf = io.BytesIO()  # 16-bit PCM WAV: what every browser plays, whatever the file's own encoding
    sf.write(buf, np.clip(wave, -1, 1), rate, subtype="PCM_16", format="WAV")
    return _data_uri("audio/wav", buf.getvalue()), _data_uri("image/png", spectrogram_png(wave, rate)), seconds


def _json_table(path: Path) -> tuple[list[str], list[list]] | None:
    """A list of flat records -> (columns, rows); anything else is not a table (None)."""
    data = json.loads(path.read_text())
    if not (isinstance(data, list) and data and all(isinstance(r, dict) for r in data)):
        return None
    columns: list[str] = []
    for record in data:
        columns += [k for k in record if k not in columns]
    if any(isinstance(v, (dict, list)) for r in data for v in r.values()):
        return None
    return columns, [[r.get(c, "") for c in columns] for r in data]


def read_run(run_dir: str | Path) -> Run:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise PaperzooError(f"not a folder: {run_dir}")
    if not (run_dir / "config.yaml").is_file():
        raise PaperzooError(f"{run_dir} is not a run directory (no config.yaml; runs are written by paperzoo train)")
    run = Run(run_dir, f"{run_dir.parent.name}/{run_dir.name}", (run_dir / "config.yaml").read_text(errors="replace"))
    if (run_dir / "metrics.csv").is_file():
        try:
            run.series = read_metrics(run_dir / "metrics.csv")
        except (ValueError, KeyError) as exc:
            run.problems.append(f"metrics.csv: unreadable ({exc})")
    counts = {"image": 0, "audio": 0, "video": 0, "table": 0}
    for path in _files(run_dir):
        rel, suffix = path.relative_to(run_dir).as_posix(), path.suffix.lower()
        kind = ("image" if suffix in IMAGE_TYPES else "audio" if suffix in AUDIO_SUFFIXES else "video" if suffix in VIDEO_TYPES
                else "table" if suffix == ".json" else None)
        if kind is None or rel in DERIVED:
            continue
        if path.stat().st_size > MAX_BYTES:
            run.problems.append(f"{rel}: not embedded ({path.stat().st_size / 2**20:.1f} MB is over {MAX_BYTES // 2**20} MB)")
            continue
        if counts[kind] >= MAX_PER_KIND:
            run.problems.append(f"{rel}: not embedded (only the first {MAX_PER_KIND} files of each kind are)")
            continue
        try:
            if kind == "image":
                run.images.append((rel, *_image(path)))
            elif kind == "audio":
                run.audio.append((rel, *_audio(path)))
            elif kind == "video":
                run.videos.append((rel, _data_uri(VIDEO_TYPES[suffix], path.read_bytes())))
            elif rel == "timing.json":
                run.timing = json.loads(path.read_text())
                continue
            elif rel == "eval.json":
                metrics = json.loads(path.read_text()).get("metrics", {})
                run.evaluation = {k: float(v) for k, v in metrics.items()}
            else:
                table = _json_table(path)
                if table is None:
                    continue
                run.tables.append((rel, *table))
        except Exception as exc:  # noqa: BLE001 - any unreadable file is reported on the page, never fatal
            run.problems.append(f"{rel}: unreadable ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")
            continue
        counts[kind] += 1
    return run


def _curves(runs: dict[str, Series], metrics: list[str], alt: str) -> str:
    """One panel per metric logged at two or more steps; a metric with a single point is a number, not a curve."""
    if not metrics:
        return "<p class='muted'>no metrics logged</p>"
    curves = [m for m in metrics if any(len(series[m][0]) > 1 for series in runs.values() if m in series)]
    points = [m for m in metrics if m not in curves]
    parts = []
    if curves:
        png = _png(curves_figure(runs, curves, columns=4))
        parts.append(f"<img class='curves' alt='{html.escape(alt)}' src='{_data_uri('image/png', png)}'>")
    if points:
        rows = [[m, label, series[m][1][0], series[m][0][0]] for m in points for label, series in runs.items() if m in series]
        parts.append("<p class='muted'>logged once (no curve):</p>" + _table(["metric", "run", "value", "at step"], rows))
    return "\n".join(parts)


def _run_section(i: int, run: Run) -> str:
    parts = [f"<h2 id='run{i}'>{html.escape(run.label)}</h2>",
             f"<p class='muted'>{html.escape(str(run.path.resolve()))}</p>",
             f"<details><summary>config.yaml</summary><pre>{html.escape(run.config_text)}</pre></details>"]
    if run.timing:
        t = run.timing
        rate = f", {t['samples_per_s']:.1f} samples/s" if t.get("samples_per_s") else ""
        parts.append(f"<p>trained {t.get('steps')} steps (to step {t.get('global_step')}) in {t.get('wall_seconds', 0):.1f} s wall time"
                     f" ({t.get('steps_per_s') or 0:.2f} steps/s{rate})</p>")
    final = run.final_metrics()
    if final or run.evaluation:
        names = sorted(set(final) | set(run.evaluation))
        rows = [[n, final[n][0] if n in final else "", final[n][1] if n in final else "", run.evaluation.get(n, "")] for n in names]
        parts += ["<h3>metrics</h3>", _table(["metric", "last logged", "at step", "paperzoo evaluate"], rows)]
    parts += ["<h3>curves</h3>", _curves({run.label: run.series}, sorted(run.series), f"curves of {run.label}")]
    groups: dict[str, list] = {}
    for rel, uri, size, width in run.images:
        groups.setdefault(str(Path(rel).parent), []).append((rel, uri, size, width))
    for folder, items in groups.items():
        parts.append(f"<h3>images: {html.escape(folder if folder != '.' else 'run folder')}</h3><div class='gallery'>")
        parts += [f"<figure><img alt='{html.escape(rel)}' width='{width}' src='{uri}'><figcaption>{html.escape(rel)} ({size})"
                  "</figcaption></figure>" for rel, uri, size, width in items]
        parts.append("</div>")
    if run.audio:
        parts.append("<h3>audio</h3>")
        parts += [f"<div class='audio'><audio controls preload='auto' src='{wav}'></audio><img alt='spectrogram of {html.escape(rel)}' "
                  f"src='{spec}'><span>{html.escape(rel)} ({seconds:.2f} s)</span></div>" for rel, wav, spec, seconds in run.audio]
    if run.videos:
        parts.append("<h3>videos</h3><div class='gallery'>")
        parts += [f"<figure><video controls muted loop preload='metadata' src='{uri}'></video><figcaption>{html.escape(rel)}</figcaption>"
                  "</figure>" for rel, uri in run.videos]
        parts.append("</div>")
    for rel, columns, rows in run.tables:
        parts += [f"<h3>table: {html.escape(rel)}</h3>", _table(columns, rows)]
    if run.problems:
        parts.append("<h3>not shown</h3><ul>" + "".join(f"<li>{html.escape(p)}</li>" for p in run.problems) + "</ul>")
    return "\n".join(parts)


def _comparison(runs: list[Run]) -> str:
    finals = [r.final_metrics() for r in runs]
    names = sorted(set().union(*finals, *(r.evaluation for r in runs)))
    rows = [[n] + [f[n][0] if n in f else r.evaluation.get(n, "") for f, r in zip(finals, runs)] for n in names]
    shared = sorted(n for n in set().union(*(r.series for r in runs)) if sum(n in r.series for r in runs) >= 2)
    labels = [f"{i + 1}: {r.label}" for i, r in enumerate(runs)]
    return "\n".join(["<h2 id='comparison'>comparison</h2>",
                      "<p>Last logged value of each metric (or its <code>paperzoo evaluate</code> value) per run.</p>",
                      _table(["metric", *labels], rows), "<h3>shared curves</h3>",
                      _curves({lab: r.series for lab, r in zip(labels, runs)}, shared, "shared curves")])


def render(runs: list[Run], title: str) -> str:
    nav = " ".join(f"<a href='#run{i}'>{html.escape(r.label)}</a>" for i, r in enumerate(runs))
    body = [f"<h1>{html.escape(title)}</h1>",
            f"<p class='muted'>written by paperzoo report on {time.strftime('%Y-%m-%d %H:%M')}; {len(runs)} run(s)</p>",
            f"<nav>{'<a href=#comparison>comparison</a> ' if len(runs) > 1 else ''}{nav}</nav>"]
    if len(runs) > 1:
        body.append(_comparison(runs))
    body += [_run_section(i, r) for i, r in enumerate(runs)]
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_report(run_dirs: list[str | Path], out: str | Path, title: str = "paperzoo report") -> Path:
    """Read every run (all are checked before anything is written), then write ``out`` atomically."""
    if not run_dirs:
        raise PaperzooError("give at least one run directory")
    runs = [read_run(d) for d in run_dirs]
    out = Path(out)
    atomic_write_text(out, render(runs, title))
    return out
