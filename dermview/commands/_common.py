"""Helpers shared by the sub-commands: argument types, input collection, output folders."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from dermview.errors import WriteError


def int_arg(lo: int, hi: int, odd: bool = False) -> Callable[[str], int]:
    """argparse type: an integer in ``[lo, hi]`` (odd only, if asked)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not lo <= value <= hi or (odd and value % 2 == 0):
            kind = "an odd integer" if odd else "an integer"
            raise argparse.ArgumentTypeError(f"must be {kind} {lo}-{hi}, got {value}")
        return value

    return parse


def fraction_arg(text: str) -> float:
    """argparse type: a number in ``[0, 1]`` (thresholds, Dice bounds)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def collect_inputs(inputs: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Images named on the command line (folders expanded), and ``(name, problem)`` failures."""
    from dermview.io import list_images

    images: list[Path] = []
    problems: list[tuple[str, str]] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = list_images(path)
            if not found:
                problems.append((item, "folder holds no images (.jpg, .png, .bmp, .tif, .dcm)"))
            images.extend(found)
        elif path.is_file():
            images.append(path)
        else:
            problems.append((item, "no such file or folder"))
    return images, problems


def make_output_dir(out: str | Path) -> Path:
    """Create the output folder (and parents); :class:`WriteError` if that is impossible."""
    out = Path(out)
    blocker = next((p for p in (out, *out.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():  # "File exists" said nothing more
        raise WriteError(f"Cannot create the output folder {out}: {blocker} is a file, not a "
                         "folder; give another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(f"Cannot create the output folder {out}: {exc.strerror or exc}") from None
    return out


def skip_reporter(command: str) -> Callable[[str, str], None]:
    """``report(name, problem)`` printing ``dermview <command>: skipped <name>: <problem>`` to
    stderr, above the progress bar."""
    from tqdm import tqdm

    def report(name: str, problem: str) -> None:
        tqdm.write(f"dermview {command}: skipped {name}: {problem}", file=sys.stderr)

    return report



class Batch(NamedTuple):
    """The set-up of a batch command (:func:`start_batch`)."""

    images: list[Path]  # to process: one per file name stem (outputs are named after it)
    out: Path  # the output folder, created
    report: Callable[[str, str], None]  # the skip reporter
    skipped: int  # inputs already skipped: missing paths, empty folders, repeated stems
    listed: frozenset[Path]  # every image named (resolved), processed or not


def start_batch(command: str, inputs: list[str], out: str | Path) -> Batch:
    """Collect the images named on the command line, create the output folder, and report
    what cannot be processed (missing paths, empty folders, a file name stem seen before)."""
    images, problems = collect_inputs(inputs)
    folder = make_output_dir(out)
    report = skip_reporter(command)
    for name, problem in problems:
        report(name, problem)
    seen: dict[str, Path] = {}
    todo: list[Path] = []
    repeated = 0
    for img in images:
        if img.stem in seen:
            if img.resolve() == seen[img.stem].resolve():
                continue  # the same file named twice (a folder and one of its images): once
            report(str(img), f"same name as {seen[img.stem]}; its output would overwrite that one")
            repeated += 1
            continue
        seen[img.stem] = img
        todo.append(img)
    return Batch(todo, folder, report, len(problems) + repeated,
                 frozenset(p.resolve() for p in images))
