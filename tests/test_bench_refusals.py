"""The bench scripts refuse bad flags like the CLI: one line on stderr, exit status 2, nothing written."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("script, args, says", [
    ("vqvae_audio.py", ["--run", "no/such/run"], "not a finished training run"),
    ("vqvae_audio.py", ["--run", "zoo:margin_cifar10"], "not a raw-audio VQ-VAE"),
    ("vqvae_audio.py", ["--run", "zoo:no_such_entry"], "unknown zoo entry"),
    ("audioslots_fsdd2mix.py", ["--runs", "Nobody=runs/x"], "--runs takes LABEL=RUN_DIR"),
    ("audioslots_fsdd2mix.py", ["--runs", "AudioSlots (0.5 s)=no/such/run"], "not a finished training run"),
    ("audioslots_fsdd2mix.py", ["--only", "Conv-TasNet"], "needs --peer-seconds"),
    ("learning_curves.py", ["--name", "x", "--metric", "val/loss", "--runs", "no-label"], "--runs takes LABEL=RUN_DIR"),
    ("learning_curves.py", ["--name", "x", "--metric", "val/loss", "--runs", "a=no/such/run"], "not a training run"),
    ("learning_curves.py", ["--name", "x", "--metric", "val/loss", "--runs", "a=zoo:no_such_entry"], "unknown zoo entry"),
    ("learning_curves.py", ["--name", "x", "--metric", "val/nothing", "--runs", "a=zoo:margin_cifar10"], "logged no val/nothing"),
    ("learning_curves.py", ["--name", "x", "--metric", "val/loss", "--until", "0", "--runs", "a=zoo:margin_cifar10"], "--until takes a step"),
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


def test_learning_curves_tabulate_each_run_at_its_own_steps(tmp_path, monkeypatch):
    """Two runs, one stopped early: each value lands under its step, '-' where a run never got, buffers are not
    counted as parameters, and the entry would be written (captured here, not into bench/results)."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location("bench_learning_curves", ROOT / "bench" / "learning_curves.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    runs = []
    for name, points, width in (("long", [(99, 1.5), (199, 2.5)], 3), ("short", [(99, 0.5)], 5)):
        run = tmp_path / name
        (run / "checkpoints").mkdir(parents=True)
        (run / "command.txt").write_text(f"paperzoo train demo name={name}\n")
        rows = ["epoch,samples_per_s,step,train/loss,val/si_snri"]
        rows += [f"0,{10 * width},{step - 50},0.5," for step, _ in points] + [f"0,,{step},,{v}" for step, v in points]
        (run / "metrics.csv").write_text("\n".join(rows) + "\n")
        state = {"model.w": torch.zeros(width, 2), "model.bn.running_mean": torch.zeros(7), "model.bn.num_batches_tracked": torch.tensor(1)}
        torch.save({"state_dict": state, "global_step": points[-1][0] + 1}, run / "checkpoints" / "last.ckpt")
        runs.append(f"{name}={run}")
    written = {}
    monkeypatch.setattr(bench, "write_results", lambda name, payload, text: written.update(name=name, payload=payload, text=text))
    bench.main(["--name", "curves_test", "--metric", "val/si_snri", "--runs", *runs])
    table_rows = [line for line in written["text"].splitlines() if line.startswith("| long") or line.startswith("| short")]
    assert written["name"] == "curves_test"
    assert [row["parameters"] for row in written["payload"]["rows"].values()] == [6, 10]  # weights only
    assert table_rows == ["| long | 0.00 M | 30 | 1.50 | 2.50 |", "| short | 0.00 M | 50 | 0.50 | - |"], table_rows
    assert "(200 steps done" in written["text"] and "(100 steps done" in written["text"]
    bench.main(["--name", "curves_test", "--metric", "val/si_snri", "--until", "100", "--runs", *runs])
    table_rows = [line for line in written["text"].splitlines() if line.startswith("| long") or line.startswith("| short")]
    assert table_rows == ["| long | 0.00 M | 30 | 1.50 |", "| short | 0.00 M | 50 | 0.50 |"], table_rows
    assert [p["step"] for p in written["payload"]["rows"]["long"]["curve"] if "val/si_snri" in p] == [99, 199]  # JSON whole
