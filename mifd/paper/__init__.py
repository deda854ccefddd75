"""Everything that compares our runs with the publication (Tomoda, Tsuda & Yamaguti 2025).

* :mod:`~mifd.paper.reported` — the paper's reported numbers, directions and training lengths
  (one source: the claims table, the chapters and the tests' reference data derive from it);
* :mod:`~mifd.paper.rules` — the verdict rules and their one text (:data:`~mifd.paper.rules.RULES`);
* :mod:`~mifd.paper.rows` — the rows of the paper-vs-ours tables, each with its verdict;
* :mod:`~mifd.paper.intervals` — the t- and Fisher-z intervals the rules use, the bootstrap
  intervals shown beside them, for information, and the Wilson intervals of proportions;
* :mod:`~mifd.paper.timing` — onset times (against each trial's peak) and the "functional first"
  test;
* :mod:`~mifd.paper.silencing` — the silencing rule of the failure modes and its calibration;
  :mod:`~mifd.paper.failures` — the failure-modes page's takeaway and summary;
* :mod:`~mifd.paper.task_criterion` — which networks solve their task (beyond-paper answers
  count only those);
* :mod:`~mifd.paper.wm`, :mod:`~mifd.paper.separation` — each section's paper-vs-ours table,
  trial classes, L2 sweep; :mod:`~mifd.paper.wm_answer` — what the working-memory page and the
  landing page conclude from them (do the modules form, do they stay);
* :mod:`~mifd.paper.claims` — the landing page's claims table and its summary;
* ``mifd.paper.scale`` — how far a run is from the published size (far-reduced runs' level
  verdicts are not tests of the paper);
* ``mifd.paper.landing`` — the landing page: its headline, key figure and whole tables;
  ``mifd.paper.appendix`` — the rules and settings appendix it links to;
* :mod:`~mifd.paper.variants` — the working-memory run under the paper-versus-code options;
* :mod:`~mifd.paper.mine_benchmark` — the MI estimators' benchmark against its literature.
"""

from . import (appendix, claims, failures, landing, mine_benchmark, reported, rules, scale, separation,
               silencing, task_criterion, timing, variants, wm, wm_answer)

__all__ = ["appendix", "claims", "failures", "landing", "mine_benchmark", "reported", "rules", "scale",
           "separation", "silencing", "task_criterion", "timing", "variants", "wm", "wm_answer"]
