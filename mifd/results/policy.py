"""What :func:`mifd.results.runner.run` does with what the store holds: a pure function of the
stored results' states and the call's flags, one row of a truth table per case.

The store may hold a result of a run's key in its own (writable) folder or in a committed
(read-only) layer, made by this code (*current*: same code hash, or reproduced by this code on
replay) or by other code (*stale*). :func:`decide` says whether to load, to show a stale
committed result with a note, or to train; :func:`prefer_parts` whether results of the run's
conditions stored as parts (``mifd run --parts``) stand in for it.
"""

from __future__ import annotations

import enum


class Found(enum.Enum):
    """A stored result of the run's key, and whether this code made it."""

    NONE = "none"        #: no finished result
    CURRENT = "current"  #: made (or reproduced on replay) by this code
    STALE = "stale"      #: made by other code


class Action(enum.Enum):
    """What a run call does."""

    LOAD = "load"                      #: show the stored result (current)
    LOAD_COMMITTED = "load committed"  #: a committed result of this code beats a stale own one
    SHOW_STALE = "show stale"          #: a committed result of other code, shown with a note
    SHOW_STALE_COMMITTED = "show stale committed"  #: the same, beating a stale own result
    TRAIN = "train"                    #: recompute (a checkpoint of this code resumes)
    RETRAIN = "retrain"                #: ``force``: recompute from scratch, no parts

    @property
    def stale(self) -> bool:
        """A result of other code is shown (with a note; ``make results`` recomputes it)."""
        return self in (Action.SHOW_STALE, Action.SHOW_STALE_COMMITTED)

    @property
    def trains(self) -> bool:
        return self in (Action.TRAIN, Action.RETRAIN)


def decide(stored: Found, *, readonly: bool = False, committed: Found = Found.NONE,
           refresh: bool = False, force: bool = False) -> Action:
    """What to do with ``stored``, the result ``Store.entry`` finds
    (``readonly``: in a committed layer, none in the store's own folder), and ``committed``, the
    first committed layer's result of the same key (asked only when ``stored`` is the store's
    own and stale). ``force`` recomputes from scratch; ``refresh`` shows only results of this
    code (a committed result of other code is recomputed, not shown)."""
    if force:
        return Action.RETRAIN
    if stored is Found.CURRENT:
        return Action.LOAD
    if stored is Found.NONE or refresh:
        return Action.TRAIN
    if readonly:  # stale, and only a committed layer holds it
        return Action.SHOW_STALE
    return {Found.CURRENT: Action.LOAD_COMMITTED, Found.STALE: Action.SHOW_STALE_COMMITTED,
            Found.NONE: Action.TRAIN}[committed]


def prefer_parts(action: Action, parts: Found) -> bool:
    """Whether the run's conditions stored as parts, assembled, stand in for the run: any parts
    when it would train (``refresh`` asks only for parts of this code), parts of this code when
    it would show a result of other code; never under ``force`` or when a current result is
    stored."""
    if parts is Found.NONE:
        return False
    return action is Action.TRAIN or (action.stale and parts is Found.CURRENT)
