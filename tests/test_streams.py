"""The named random streams (mifd.streams): their offsets are part of every stored result."""

import pytest

from mifd.config import ConfigError
from mifd.streams import STREAMS, seed, seeds

#: the offsets every committed result was drawn with: never change one
PINNED = {"wm.task": 7_000_003, "wm.critic": 31_337, "wm.sm": 9_100_003, "wm.eval": 5_550_001,
          "wm.audit_data": 4_242_001, "wm.audit_critic": 77_001,
          "wm_audit.validation": 5_100_001, "wm_audit.test": 5_200_001,
          "penalties.calibration": 6_100_003, "separation.data": 3_000_017,
          "separation.critic": 41_113, "separation.sm": 8_200_009,
          "growing_brains.noise": 4_000_037}


def test_the_offsets_never_change_and_are_distinct():
    assert {k: v for k, (v, _) in STREAMS.items()} == PINNED
    assert len(set(PINNED.values())) == len(PINNED)
    assert all(doc for _, doc in STREAMS.values())


def test_a_stream_seed_is_the_trial_seed_plus_its_offset():
    assert seed("wm.task", 1001) == 1001 + 7_000_003
    assert seeds("separation.sm", [625, 626]) == [625 + 8_200_009, 626 + 8_200_009]
    with pytest.raises(ConfigError, match="got 'nope'; allowed: one of 'wm.task'"):
        seed("nope", 1)


def test_the_authors_driver_uses_the_same_offsets():
    from mifd.authors.driver import OFFSETS
    assert OFFSETS == {"global": PINNED["wm.critic"], "model": PINNED["wm.task"],
                       "eval": PINNED["wm.eval"]}
