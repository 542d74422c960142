"""Fine-tuning from the shell, trial S17B: an unwritable --out, a write failing at the end, a
time limit too short, relative folders in the metadata."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import test_finetune as tf  # noqa: E402  (its folder maker and fast settings)
from _weights import make_weights  # noqa: E402

from dermview.cli import main  # noqa: E402
from dermview.finetune import FinetuneError  # noqa: E402
from dermview.finetune.engine import FinetuneSettings  # noqa: E402
from dermview.finetune.run import finetune  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def base(tmp_path: Path) -> Path:
    (tmp_path / "w").mkdir()
    return make_weights(tmp_path / "w")


def test_an_unwritable_output_folder_is_refused_before_the_run(tmp_path: Path, base: Path,
                                                               capsys, monkeypatch):
    """Trial S17B: ``--out /proc/x.pt`` (as root, where ``os.access`` says yes) scored both
    models and then ended in a FileNotFoundError traceback, exit status 1 ("not better")."""
    import os

    monkeypatch.setattr(os, "access", lambda *a, **k: True)  # what root is told
    folder = tf.make_folder(tmp_path, 8)
    phases: list[str] = []
    with pytest.raises(FinetuneError, match=r"Cannot save x\.pt"):
        finetune(folder, Path("/proc/x.pt"), base=base, device="cpu",
                 settings=FinetuneSettings(), progress=lambda d, t, p: phases.append(p))
    assert phases == []  # refused before anything was scored
    rc = main(["finetune", str(folder), "--base", str(base), "--out", "/proc/x.pt",
               "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_write_failing_at_the_end_is_one_line(tmp_path: Path, base: Path, monkeypatch):
    """A folder that stops being writable during the run (disk full, a share gone): the
    writing gives a FinetuneError (one line, exit status 2), not an OSError's traceback."""
    import errno

    from dermview.finetune import engine
    from dermview.model import weights as wmod

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(wmod, "save_weights", full)
    out = tmp_path / "models" / "x.pt"
    with pytest.raises(FinetuneError, match="disk is full"):
        engine.write_model(torch.nn.Linear(1, 1), out, {}, onnx=False)
    assert list(out.parent.iterdir()) == []  # no temporary folder left


def test_a_time_limit_too_short_says_what_took_the_time_and_what_would_do():
    """Trial S17B: ``--time-limit 0.5 --max-steps 10`` ran 43 s and then said the 0.5 min
    'leaves room for 0 training steps (4 runs, 0.5 s per step)': 60 steps' worth, on the
    face of it; where the time went, and how much to allow, were left to guess."""
    from dermview.finetune.run import _plan_steps

    settings = FinetuneSettings(max_steps=10, min_steps=5, time_limit_min=0.5)
    clock = iter([38.0])  # 38 s after the start: preparing and scoring the base model
    with pytest.raises(FinetuneError) as info:
        _plan_steps(settings, deadline=30.0, runs=4, step_s=0.5, score_s=8.0,
                    now=lambda: next(clock))
    text = str(info.value)
    assert "took 38 s" in text and "about 47 s" in text  # 1.3 × 8 + 25 + 3 × 4
    assert "--time-limit 2 or more" in text  # 38 + 47 + 5 × 4 × 0.5 = 95 s


def test_plan_steps_fits_the_steps_in_the_time_left():
    from dermview.finetune.run import _plan_steps

    settings = FinetuneSettings(max_steps=100, min_steps=5, time_limit_min=2.0)
    assert _plan_steps(settings, deadline=120.0, runs=4, step_s=0.5, score_s=8.0,
                       now=lambda: 30.0) == 21  # (120 - 30 - 47) / (4 × 0.5)


def test_the_folders_are_recorded_whole_when_given_relative(tmp_path: Path, base: Path,
                                                           monkeypatch):
    """Trial S17B: ``cd clinic && dermview finetune . --out ../x.pt`` wrote ``"image_dir":
    "."`` in x.json: the Models list then said the model was made "of " (no folder), and the
    metadata could not tell which folder from anywhere else."""
    from dermview.gui.model_list import ModelEntry

    folder = tf.make_folder(tmp_path, 8)
    monkeypatch.chdir(folder)
    out = tmp_path / "x.pt"
    finetune(".", out, base=base, device="cpu", settings=replace(tf.FAST, max_steps=0))
    ft = json.loads(out.with_suffix(".json").read_text())["finetune"]
    assert ft["image_dir"] == str(folder.resolve())
    assert ft["labels_dir"] == str((folder / "labels").resolve())
    entry = ModelEntry.read(out)
    assert entry is not None and f"of {folder.name}" in entry.origin
