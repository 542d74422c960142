"""Entry script of the frozen app: the same ``dermview`` command as the installed package."""

import multiprocessing
import sys

from dermview.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # no-op unless a worker process is spawned
    sys.exit(main())
