"""The model card is generated from the weights' metadata and the results files, not typed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_model_card_is_what_the_script_writes():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "model_card.py"), "--check"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
