"""Docs trial: ``dermview COMMAND --help`` explains every option (a new user reads it first)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from dermview.cli import _commands, build_parser, main


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser(_commands())
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


@pytest.mark.parametrize("name", sorted(_subparsers()))
def test_every_option_of_every_command_is_explained_in_its_help(name, capsys):
    """``dermview import --help`` listed ``--format {coco,labelme,dicom-seg}`` without a word
    on what each means there (``--from`` depends on it); ``export --help`` explained it."""
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for action in _subparsers()[name]._actions:
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
            continue
        what = action.option_strings[-1] if action.option_strings else action.metavar
        assert action.help, f"{name} {what} has no help"
        assert " ".join(action.help.split())[:40] in text, what


def _readme_usage(name: str) -> str:
    """Every line of the README that shows ``dermview NAME`` with options: the ```bash blocks
    (a command and its indented continuation lines) and inline `dermview NAME ...` spans."""
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        current = None
        for line in block.splitlines():
            found = re.match(r"\s*dermview (\S+)", line)
            if found:
                current = found.group(1)
            elif not line.startswith(" "):
                current = None
            if current == name:
                lines.append(line)
    lines += re.findall(rf"`dermview {re.escape(name)} [^`]*`", text)
    return " ".join(lines)


@pytest.mark.parametrize("name", sorted(_subparsers()))
def test_readme_usage_lists_every_option_of_every_command(name):
    """The README's usage of ``dermview finetune`` ended at ``[--overwrite]``: its
    ``--progress-json`` (what the app runs) was only in ``finetune --help``."""
    usage = _readme_usage(name)
    assert usage, name
    options = [a.option_strings[-1] for a in _subparsers()[name]._actions
               if a.option_strings and a.help != argparse.SUPPRESS
               and not isinstance(a, argparse._HelpAction)]
    assert [o for o in options if o not in usage] == []
