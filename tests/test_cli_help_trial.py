"""Docs trial: ``dermview COMMAND --help`` explains every option (a new user reads it first)."""

from __future__ import annotations

import argparse

import pytest

from dermview.cli import _commands, build_parser, main


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser(_commands())
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


@pytest.mark.parametrize("name", sorted(_subparsers()))
def test_finding_every_option_of_every_command_is_explained_in_its_help(name, capsys):
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
