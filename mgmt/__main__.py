"""`python -m mgmt` is the `punktfunk` command."""

import sys

from mgmt.cli import main

sys.exit(main())
