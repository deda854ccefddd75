"""``python -m mifd.cli``."""

import sys

from . import main

sys.exit(main())
