"""The bench scripts refuse bad flags like the CLI: one line on stderr, exit status 2, nothing written."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("script, args, says", [
    ("vqvae_audio.py", ["--run", "no/such/run"], "not a finished training run"),
    ("vqvae_audio.py", ["--run", "zoo:margin_cifar10"], "not a raw-audio VQ-VAE"),
    ("vqvae_audio.py", ["--run", "zoo:no_such_entry"], "unknown zoo entry"),
    ("audioslots_fsdd2mix.py", ["--runs", "Nobody=runs/x"], "--runs takes LABEL=RUN_DIR"),
    ("audioslots_fsdd2mix.py", ["--runs", "AudioSlots (0.5 s)=no/such/run"], "not a finished training run"),
    ("audioslots_fsdd2mix.py", ["--only", "Conv-TasNet"], "needs --peer-seconds"),
])
def test_bad_bench_flags_are_one_line_errors_with_status_2(script, args, says, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))  # the scripts' own helpers (_results, ...)
    spec = importlib.util.spec_from_file_location(f"bench_{script[:-3]}", ROOT / "bench" / script)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    results = sorted((ROOT / "bench" / "results").glob("*.json"))
    before = {p: p.stat().st_mtime_ns for p in results}
    with pytest.raises(SystemExit) as exited:  # any other exception would be a traceback
        bench.main(args)
    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], lines
    assert {p: p.stat().st_mtime_ns for p in results} == before  # no result rewritten
