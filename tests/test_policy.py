"""The load/stale/committed/parts/refresh/force policy of ``mifd run`` (mifd.results.policy): one
test per row of its truth table."""

import pytest

from mifd.results.policy import Action, Found, decide, prefer_parts

N, C, S = Found.NONE, Found.CURRENT, Found.STALE

# stored, readonly (only a committed layer holds it), committed (same key, first committed
# layer), refresh, force -> action
ROWS = [
    # force: from scratch, whatever is stored
    (C, False, N, False, True, Action.RETRAIN),
    (S, True, N, True, True, Action.RETRAIN),
    (N, False, N, False, True, Action.RETRAIN),
    # a result of this code, own or committed (or reproduced on replay): load it
    (C, False, N, False, False, Action.LOAD),
    (C, True, N, False, False, Action.LOAD),
    (C, False, N, True, False, Action.LOAD),
    (C, True, N, True, False, Action.LOAD),
    # nothing stored: train (a checkpoint of this code resumes)
    (N, False, N, False, False, Action.TRAIN),
    (N, False, N, True, False, Action.TRAIN),
    # only a committed result of other code: shown with a note; --refresh recomputes
    (S, True, N, False, False, Action.SHOW_STALE),
    (S, True, N, True, False, Action.TRAIN),
    # an own result of other code: a committed one of the same key beats it
    (S, False, C, False, False, Action.LOAD_COMMITTED),
    (S, False, S, False, False, Action.SHOW_STALE_COMMITTED),
    (S, False, N, False, False, Action.TRAIN),
    # ... unless --refresh: recomputed
    (S, False, C, True, False, Action.TRAIN),
    (S, False, S, True, False, Action.TRAIN),
]


@pytest.mark.parametrize("stored,readonly,committed,refresh,force,action", ROWS)
def test_decide(stored, readonly, committed, refresh, force, action):
    assert decide(stored, readonly=readonly, committed=committed, refresh=refresh,
                  force=force) is action


def test_every_combination_has_a_row_or_does_not_matter():
    # rows not listed are the same as a listed one: force decides alone; a current or missing
    # stored result does not ask the committed layer
    for stored in Found:
        for readonly in (False, True):
            for committed in Found:
                for refresh in (False, True):
                    got = decide(stored, readonly=readonly, committed=committed,
                                 refresh=refresh, force=False)
                    if stored is not S or readonly or refresh:
                        assert got is decide(stored, readonly=readonly, refresh=refresh)
                    assert decide(stored, readonly=readonly, committed=committed,
                                  refresh=refresh, force=True) is Action.RETRAIN


# action, parts (assembled condition parts) -> the parts stand in for the run
PARTS = [
    (Action.TRAIN, N, False),
    (Action.TRAIN, C, True),
    (Action.TRAIN, S, True),      # parts of other code beat nothing (shown with a note)
    (Action.SHOW_STALE, C, True),  # parts of this code beat a whole run of other code
    (Action.SHOW_STALE, S, False),
    (Action.SHOW_STALE_COMMITTED, C, True),
    (Action.SHOW_STALE_COMMITTED, S, False),
    (Action.LOAD, C, False),
    (Action.LOAD_COMMITTED, C, False),
    (Action.RETRAIN, C, False),   # --force trains the whole run
]


@pytest.mark.parametrize("action,parts,used", PARTS)
def test_prefer_parts(action, parts, used):
    assert prefer_parts(action, parts) is used
