"""The ``dermview`` entry point.

``dermview [IMAGE_OR_DIR ...]`` opens the desktop app; ``dermview <command> ...`` runs a
headless sub-command (see ``dermview --help``). Errors a user can cause are printed as one
clear line (no traceback) with exit status 2.
"""

from __future__ import annotations

import argparse
import difflib
import gc
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from dermview import __version__
from dermview.commands import COMMAND_MODULES
from dermview.errors import DermviewError


def _commands() -> dict[str, ModuleType]:
    mods = (importlib.import_module(f"dermview.commands.{m}") for m in COMMAND_MODULES)
    return {mod.NAME: mod for mod in mods}


#: The desktop app's arguments, shown by ``dermview --help`` (they are not a command).
APP_HELP = """desktop app:
  dermview IMAGE_OR_DIR ...   open images, DICOM files or folders (a folder opens as a
                              worklist of its images with their review state)
  --device auto|cpu|cuda      compute device for segmentation (default: last used, else auto)
  --weights PT                segmentation model weights (.pt with its .json)

'dermview COMMAND --help' lists a command's options."""


def build_parser(commands: dict[str, ModuleType]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dermview",
        usage="%(prog)s [IMAGE_OR_DIR ...] [--device auto|cpu|cuda] [--weights PT]\n"
              "       %(prog)s COMMAND [options]",
        description="Dermoscopy lesion review. Without a command, opens the desktop app.",
        epilog=APP_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"dermview {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, mod in commands.items():
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP, prog=f"dermview {name}",
                           epilog=getattr(mod, "EPILOG", None))
        mod.add_arguments(p)
    return parser


def build_gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dermview", description="Open the dermview desktop app.")
    parser.add_argument("paths", nargs="*", metavar="IMAGE_OR_DIR", help="images or folders to open")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None,
                        help="compute device for segmentation (default: last used, else auto)")
    parser.add_argument("--weights", default=None, help="model weights (.pt with its .json)")
    return parser


def _misspelt_command(argv: Sequence[str], commands: dict[str, ModuleType]) -> str | None:
    """The message for a first argument that is no file or folder but nearly a command's name
    (``dermview segmnt ...``, ``dermview analyse ...``), which would otherwise open the app on
    a missing file; None when it is none."""
    if not argv or argv[0].startswith("-") or Path(argv[0]).exists():
        return None
    close = difflib.get_close_matches(argv[0], list(commands), n=1, cutoff=0.75)
    if not close:
        return None
    return (f"unknown command {argv[0]!r} (did you mean {close[0]!r}? "
            "'dermview --help' lists the commands)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: this process's own, as the ``dermview``
    program); returns the exit status."""
    if argv is None:
        try:
            return _main(sys.argv[1:])
        finally:
            # The program ends next: spare the interpreter's final garbage collection over
            # every object still alive (highdicom's tables of the standard alone are 200,000;
            # it cost about a second at exit). Objects are still freed and files closed.
            gc.freeze()
    return _main(argv)


def _main(argv: Sequence[str]) -> int:
    argv = list(argv)
    commands = _commands()
    try:
        if argv and (argv[0] in commands or argv[0] in ("-h", "--help", "--version")):
            args = build_parser(commands).parse_args(argv)
            if args.command is None:
                build_parser(commands).print_help()
                return 0
            return int(commands[args.command].run(args) or 0)
        typo = _misspelt_command(argv, commands)
        if typo:
            print(f"dermview: error: {typo}", file=sys.stderr)
            return 2
        args = build_gui_parser().parse_args(argv)
        from dermview.gui.app import run_app

        return int(run_app(args) or 0)
    except DermviewError as exc:
        print(f"dermview: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dermview: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
