"""``python -m seplive ARGS``: the same as the ``seplive`` command."""

import sys

from .cli import main

sys.exit(main())
