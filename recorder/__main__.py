"""`python -m recorder`: the `sessrec` command."""

import sys

from recorder.cli import main

sys.exit(main())
