"""`python -m tacfn_robust.cli` runs the command line."""

import sys

from tacfn_robust.cli import main

sys.exit(main())
