"""Planned tests of the screen of the fade (:data:`mifd.paper.persistence.SCREEN`): settings run
to answer one question each, judged by one rule stated before they ran.

A screened setting is judged with the others against the default (Holm's adjustment over the
screen, :func:`mifd.paper.persistence.against`). Some were added to take a setting that changes
two things apart, or to ask one follow-up question; each of those is compared with the setting
its question names, on paired seeds at epoch 1000 (:func:`mifd.paper.persistence.paired`), and —
as the one test it was run for — unadjusted. The rule: a difference with two-sided Wilcoxon p <
:data:`mifd.paper.persistence.ALPHA` answers the question by its sign; at an n whose smallest
possible p is not below α (:func:`mifd.paper.rules.signed_rank_floor`: n ≤ 5) *not testable at
n = …*; otherwise *not decided at n = …*. The rule is applied on the number of paired seeds the
test was planned with (:attr:`Planned.n`, the first seeds in order): seeds run later, after
its answer was seen, would make the decision depend on when one stopped looking, so their
test is reported beside it as exploratory and decides nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from .persistence import (ALPHA, EPOCHS, FULL_DATA, KEEP, MI_TERM_ALL, at_epoch, kept, paired,
                          screen_label, trial_series)
from .rules import signed_rank_floor


@dataclass(frozen=True)
class Planned:
    """One planned test: the screen's setting run for it (``setting``: its overrides), the one
    it is compared with (``against``), the question, what the two differ in (``{setting}`` and
    ``{against}`` stand for their labels), and the answer when ``setting`` is shown lower or
    higher."""
    setting: Mapping[str, Any]
    against: Mapping[str, Any]
    question: str
    differs: str
    lower: str
    higher: str
    #: the paired seeds the test was planned with: its rule decides on the first ``n``
    n: int = 10


#: the planned tests, in the order the page gives them
PLANNED = (
    Planned(MI_TERM_ALL, FULL_DATA, "Which half of the critic's data keeps the modules?",
            "The critic on all its data (*{against}*) changes two things at once: the critic "
            "trains on every sequence of the batch per SM step, and the RNN's MI term uses every "
            "sample of its batch. The setting *{setting}* changes only the second.",
            "of the two changes, the critic's own training data is the one that matters: the "
            "RNN's MI term on all samples does not keep the modules by itself",
            "the RNN's MI term on all its samples keeps more of the modules alone than with the "
            "critic on all its data"),
    Planned({"sm_batch": 0}, {}, "More sequences or more samples?",
            "The setting *{setting}* spreads the critic's data over every sequence of the batch "
            "at about the default's number of samples per SM step (a random 4 096 of their 40 000, "
            "against all 4 000 of 2 sequences); nothing else differs from *{against}*.",
            "spreading the critic's data over more sequences loses more of the modules",
            "spreading the critic's data over every sequence keeps more of the modules, without "
            "more samples"),
)


def judge(screen: Mapping[str, Any], test: Planned, metric: str = "Q_cor"
          ) -> dict[str, Any] | None:
    """``test`` judged by the module's rule on the committed runs of ``screen`` (label → run):
    the two labels, :func:`~mifd.paper.persistence.paired`'s test at epoch 1000 on the planned
    seeds, the answer and (``beyond``) the same test on every paired seed when more ran, else
    ``None``; ``None`` until both settings are committed."""
    a, b = screen_label(test.setting), screen_label(test.against)
    if a not in screen or b not in screen:
        return None
    t = paired(screen[a], screen[b], metric, EPOCHS[-1], first=test.n)
    every = paired(screen[a], screen[b], metric, EPOCHS[-1])
    shown = np.isfinite(t["p"]) and t["p"] < ALPHA
    d = t["mean difference"]
    floor = signed_rank_floor(t["n"])
    answer = ((test.lower if d < 0 else test.higher) if shown else
              f"not testable at n = {t['n']} (the smallest p {t['n']} pairs can give is "
              f"{floor:.2g})" if floor >= ALPHA else f"not decided at n = {t['n']}")
    return {"setting": a, "against": b, "test": t, "answer": answer,
            "beyond": every if every["n"] > t["n"] else None}


def _beyond(j: Mapping[str, Any], test: Planned) -> str:
    """The exploratory test on every paired seed when more than the planned ones ran, or
    ``""``."""
    e = j["beyond"]
    if e is None:
        return ""
    return (f" Beyond the planned {test.n} seeds (exploratory, not a decision): on all "
            f"{e['n']} paired seeds {e['mean difference']:+.3f} (Wilcoxon p = {e['p']:.2g}).")


def sentence(screen: Mapping[str, Any], test: Planned, metric: str = "Q_cor") -> str:
    """:func:`judge`'s answer for the page: each setting's mean ± s.d. of ``metric`` at epoch
    1000 on the paired seeds and how many of their trials keep their modules, the paired
    difference, its p and the answer; ``""`` until both settings are committed."""
    j = judge(screen, test, metric)
    if j is None:
        return ""
    a, b, t = j["setting"], j["against"], j["test"]

    def course(rr: Any) -> str:
        ep, seeds, v = trial_series(rr, metric)
        v = v[:, np.isin(seeds, t["seeds"])]
        end = at_epoch(ep, v, EPOCHS[-1])
        return f"{end.mean():.3f} ± {np.std(end, ddof=1):.3f} ({int(kept(v).sum())} of " \
               f"{v.shape[1]} keeping ≥ {KEEP:.0%} of their peak)"
    return (f"**{test.question}** " + test.differs.format(setting=a, against=b)
            + f" {metric} at epoch {EPOCHS[-1]}: {course(screen[a])} against "
            f"{course(screen[b])}; on {t['n']} paired seeds {t['mean difference']:+.3f} "
            f"(Wilcoxon p = {t['p']:.2g}; the one test this setting was run for, hence "
            f"unadjusted): {j['answer']}." + _beyond(j, test))


def sentences(screen: Mapping[str, Any], metric: str = "Q_cor") -> list[str]:
    """:func:`sentence` of every test of :data:`PLANNED` whose settings are committed."""
    return [s for s in (sentence(screen, t, metric) for t in PLANNED) if s]


def points(screen: Mapping[str, Any], metric: str = "Q_cor") -> list[str]:
    """The page summary's point per committed test of :data:`PLANNED`: the question, the
    answer, the paired difference and its p."""
    out = []
    for test in PLANNED:
        j = judge(screen, test, metric)
        if j is not None:
            t = j["test"]
            out.append(f"{test.question} {j['answer'][:1].upper()}{j['answer'][1:]} "
                       f"({j['setting']} against {j['against']}: {metric} "
                       f"{t['mean difference']:+.3f} on {t['n']} paired seeds at epoch "
                       f"{EPOCHS[-1]}, p = {t['p']:.2g})." + _beyond(j, test))
    return out
