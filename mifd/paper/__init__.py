"""Everything that compares our runs with the publication (Tomoda, Tsuda & Yamaguti 2025).

* :mod:`~mifd.paper.reported` — the paper's reported numbers, directions and training lengths
  (one source: the claims table, the chapters and the tests' reference data derive from it);
* :mod:`~mifd.paper.rules` — the verdict rules and their one text (:data:`~mifd.paper.rules.RULES`);
* :mod:`~mifd.paper.intervals` — the bootstrap intervals shown beside them, for information;
* :mod:`~mifd.paper.timing` — onset times and the "functional first" test;
* :mod:`~mifd.paper.wm`, :mod:`~mifd.paper.separation` — each section's paper-vs-ours table,
  trial classes, L2 sweep;
* :mod:`~mifd.paper.claims` — the landing page's claims table and its summary;
* :mod:`~mifd.paper.variants` — the working-memory run under the paper-versus-code options;
* :mod:`~mifd.paper.mine_benchmark` — the MI estimators' benchmark against its literature.
"""

from . import claims, mine_benchmark, reported, rules, separation, timing, variants, wm

__all__ = ["claims", "mine_benchmark", "reported", "rules", "separation", "timing", "variants", "wm"]
