"""`python -m munchables.cli`: the `munch` command."""

import sys

from . import main

sys.exit(main())
