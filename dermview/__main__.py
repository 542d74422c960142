import sys

from dermview.cli import main

sys.exit(main())
