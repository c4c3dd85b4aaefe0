"""`python -m host` is the `punktfunk` command."""

import sys

from host.cli import main

sys.exit(main())
