"""Finite or refused, every step, without a host synchronisation per step.

:class:`FiniteWatch` keeps on the device, per watched term and trial, the first step (counted
from 0; named from 1) at which the term was not finite (``-1``: not yet). Recording it is a few element-wise device
operations; it is read on the host only at a checkpoint and every ``check_every`` steps
(:meth:`FiniteWatch.check`), which then raises :class:`TermNotFinite` naming the earliest
term, the trials, the step and what feeds the term.
"""

from __future__ import annotations

from typing import Callable, Mapping

import torch

from .mine import NonFiniteError

__all__ = ["FiniteWatch", "TermNotFinite"]


class TermNotFinite(NonFiniteError):
    """A watched term was not finite: which, in which trials (batch positions), at which
    step, and what feeds it; ``message`` names the trials with a caller's labels."""

    def __init__(self, term: str, trials: list[int], step: int, feeds: str, where: str):
        self.term, self.trials, self.step, self.feeds, self.where = term, trials, step, feeds, where
        super().__init__(self.message())

    def with_label(self, label: Callable[[int], str]) -> "TermNotFinite":
        """The same error, its trials named by ``label`` (e.g. ``"1 (mi trial 1)"``)."""
        self.args = (self.message(label),)
        return self

    def message(self, label: Callable[[int], str] = str) -> str:
        return (f"{self.term} is not finite in trial(s) {', '.join(label(t) for t in self.trials)}"
                f" at {self.where.format(step=self.step + 1)}; it is fed by {self.feeds}; nothing is stored")


class FiniteWatch:
    """The first non-finite step of each of ``terms`` (name → what feeds it, in the order they
    are computed within a step) in each of ``trials`` trials, kept on ``device``."""

    def __init__(self, terms: Mapping[str, str], trials: int, device: torch.device | str,
                 where: str = "training step {step}"):
        self.terms = dict(terms)
        self.names = list(terms)
        self.where = where
        self.step = 0
        self.first = torch.full((len(self.names), trials), -1, dtype=torch.long, device=device)

    def observe(self, term: str, values: torch.Tensor) -> None:
        """Record the trials (leading axis of ``values``) whose ``term`` is not finite at the
        current step; no host synchronisation."""
        i = self.names.index(term)
        ok = torch.isfinite(values.detach())  # no copy of the values, strided or not
        bad = ~ok.all(dim=tuple(range(1, ok.dim()))) if ok.dim() > 1 else ~ok
        row = self.first[i]
        self.first[i] = torch.where((row < 0) & bad, torch.full_like(row, self.step), row)

    def check(self) -> None:
        """Raise :class:`TermNotFinite` for the earliest step at which a term was not finite
        (the first such term in computation order); one host synchronisation."""
        first = self.first.cpu()
        hit = first >= 0
        if not bool(hit.any()):
            return
        step = int(first[hit].min())
        i = next(i for i in range(len(self.names)) if bool((first[i] == step).any()))
        trials = (first[i] == step).nonzero().flatten().tolist()
        raise TermNotFinite(self.names[i], trials, step, self.terms[self.names[i]], self.where)

    def state_dict(self) -> dict:
        return {"first": self.first.cpu(), "step": self.step}

    def load_state_dict(self, s: dict) -> None:
        self.first = s["first"].to(self.first.device)
        self.step = int(s["step"])
