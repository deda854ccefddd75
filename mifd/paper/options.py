"""The optimizer and critic options a run is named by where it differs from its experiment's
defaults: RMSprop's ε placement and the statistics network's one or two first-layer biases
(issue 39; the defaults follow the authors' code). The claims table's *where*, the audit's note
and the mechanism's sentence name them in the same words."""

from __future__ import annotations

from typing import Any


#: optimizer and critic settings named where a run differs from its experiment's default
#: (field → the words for a run that differs)
NAMED_SETTINGS = {"rmsprop_eps": lambda v: f"RMSprop ε {v} √",
                  "critic_double_bias": lambda v: "two critic biases" if v else "one critic bias"}


def named_differences(cfg: Any, skip: tuple[str, ...] = ()) -> list[str]:
    """The words of :data:`NAMED_SETTINGS` for each setting in which ``cfg`` differs from its
    config class's defaults (``skip``: settings a caller names itself)."""
    default = type(cfg)()
    return [words(getattr(cfg, f)) for f, words in NAMED_SETTINGS.items()
            if f not in skip and hasattr(cfg, f) and getattr(cfg, f) != getattr(default, f)]
