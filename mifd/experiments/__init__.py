"""Built-in experiments; importing this package registers them with :mod:`mifd.runner`."""

from . import mine_gaussian  # noqa: F401
from . import wm  # noqa: F401
from . import separation  # noqa: F401
