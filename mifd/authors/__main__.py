"""``python -m mifd.authors``: see :mod:`mifd.authors.run`."""

import sys

from .run import main

sys.exit(main())
