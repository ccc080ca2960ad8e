"""``paperzoo ARGS`` with one checkpoint write slowed down, so a test can SIGKILL the process in the
middle of it (tests/test_reliability_crash.py).

The write number ``$PAPERZOO_TEST_PAUSE_AT`` (1-based; counting every ``torch.save``) writes the first
half of its bytes, creates ``$PAPERZOO_TEST_MARKER`` and sleeps ``$PAPERZOO_TEST_PAUSE`` seconds
before writing the rest; every other write is unchanged.
"""

import io
import os
import sys
import time
from pathlib import Path

import torch

from paperzoo.cli import main

_real_save = torch.save
_writes = 0


def _slow_save(obj, f, *args, **kwargs):
    global _writes
    _writes += 1
    if _writes != int(os.environ["PAPERZOO_TEST_PAUSE_AT"]):
        return _real_save(obj, f, *args, **kwargs)
    buf = io.BytesIO()
    _real_save(obj, buf, *args, **kwargs)
    data = buf.getvalue()
    with open(f, "wb") as out:
        out.write(data[: len(data) // 2])
        out.flush()
        os.fsync(out.fileno())
        Path(os.environ["PAPERZOO_TEST_MARKER"]).write_text(str(f))
        time.sleep(float(os.environ.get("PAPERZOO_TEST_PAUSE", "60")))
        out.write(data[len(data) // 2 :])


torch.save = _slow_save
sys.exit(main(sys.argv[1:]))
