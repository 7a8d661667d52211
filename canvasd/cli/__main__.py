"""`python -m canvasd.cli` (what the installed service units run)."""

import sys

from canvasd.cli.commands import main

sys.exit(main())
