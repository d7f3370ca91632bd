"""`python -m tacfn.cli` runs the command line."""

import sys

from tacfn.cli import main

sys.exit(main())
