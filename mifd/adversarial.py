"""The adversarial MI-minimization loop, task-agnostic (paper Fig. 3; reference-facts §1–§3).

A *problem* (the RNN and its task) exposes:

* ``model`` — an ``nn.Module`` whose parameters all have the trial as leading dimension;
* ``sample(kind, n_batches)`` → a data object for ``n_batches`` fresh minibatches (``kind`` is
  ``"sm_pre"``, ``"sm"`` or ``"mm"``: the authors start these from different initial states);
* ``run(data, grad, states=None)`` → ``(x, y, out)``: the two groups' activities
  ``(T, n_batches·B·L, d)`` on which the statistics network works, and whatever ``task_loss``
  needs (tensors with the batch as dimension 1); ``states``: an earlier ``out`` of the same
  data and weights, whose recursion is reused (``merge_mm_pass``);
* ``task_loss(out, data)`` → ``(T,)``; ``reg_loss()`` → ``(T,)``: the L2 term plus the problem's
  extra loss terms (``terms``, :class:`LossTerm`: a wiring cost, a dependence penalty), the one
  hook through which a variant adds to the MM loss.

The trainer alternates, as the authors' code does: ``pre_steps`` statistics-network (SM) steps,
then per epoch ``k`` SM steps on fresh batches followed by one main-model (MM) step minimizing
``task + reg + λ_I · DV``. λ_I is a per-trial vector, so trials with and without MI minimization
train side by side. Because the RNN's weights are fixed during the k SM steps, their k forward
passes are run as one batched pass (``batch_sm_passes``, exact; ``sm_pass_group`` passes at a
time to bound memory); with hand-written BPTT the MM step's forward pass can join them
(``merge_mm_pass``, exact up to rounding), and the joint and shuffled
pairs go through the critic in one pass (``one_pass_critic``, exact up to rounding; both tested
against the straightforward forms in ``tests/test_exactness.py``).

SM inputs follow the authors' ``MINE.call``: the shuffled copy of y is taken *before* Gaussian
noise of s.d. ``sm_noise`` is added to x and y (``noise_on_shuffled=False``); y rows are permuted
over all samples. The same noisy DV is used in the MM step.
"""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol, Sequence

import torch

from .config import ConfigError, param
from .accel.cudagraphs import GraphedPass, check_graph_device

from .finite import FiniteWatch
from .mine import log_mean_exp
from .nn import clip_grad_norm_per_trial, generator_states, set_generator_states


class LossTerm(Protocol):
    """An extra per-trial term of the MM loss, composed by a problem (its ``terms``): the problem
    shows every term the groups' activities of each run with gradient (the MM step's,
    ``observe``) and adds what the term returns, ``(T,)`` or ``None`` (nothing this step), to
    its L2 term, in the order of ``terms``."""

    def observe(self, x: torch.Tensor, y: torch.Tensor) -> None: ...

    def __call__(self) -> torch.Tensor | None: ...


def make_terms(problem: Any, factories: Sequence[Callable[[Any], LossTerm]]) -> list[LossTerm]:
    """The loss terms of ``problem``, each made from it by one of ``factories`` (a term may
    read the problem's model, trials and data streams)."""
    return [make(problem) for make in factories]


def observe_terms(terms: Sequence[LossTerm], x: torch.Tensor, y: torch.Tensor) -> None:
    for term in terms:
        term.observe(x, y)


def add_terms(reg: torch.Tensor, terms: Sequence[LossTerm]) -> torch.Tensor:
    """``reg`` plus every term's value (a term returning ``None`` adds nothing)."""
    for term in terms:
        extra = term()
        if extra is not None:
            reg = reg + extra
    return reg


def term_of(problem: Any, cls: type) -> Any:
    """The one term of ``problem`` that is a ``cls``."""
    found = [t for t in problem.terms if isinstance(t, cls)]
    if len(found) != 1:
        raise ValueError(f"parameter 'cls': got {cls.__name__}, of which the problem has "
                         f"{len(found)} terms; allowed: a class of exactly one of its terms")
    return found[0]


@dataclass(frozen=True)
class AdversarialSettings:
    pre_steps: int = 100
    sm_per_mm: int = 10
    sm_noise: float = 0.1
    noise_on_shuffled: bool = False
    sm_samples: int = 0            # 0: all batch × time samples; else a random subset per step
    sm_clip: float = 4.0           # clip-norm (Keras per variable); 0: off
    sm_clip_value: float = 0.0     # clip-value (separation); 0: off
    mm_clip: float = 4.0
    mm_noise: bool = True          # SM noise also in the MM step's DV (authors' code)
    batch_sm_passes: bool = True
    sm_pass_group: int = 0         # with batch_sm_passes: passes run together (0: all k)
    one_pass_critic: bool = True   # joint and shuffled pairs through the critic in one pass
    compile_critic: bool = False   # torch.compile the one-pass critic (implies one_pass_critic)
    sm_precision: str = "fp32"     # critic matmuls: "fp32" | "tf32" (CUDA) | "bf16" (autocast)
    graph_sm_pass: bool = False    # CUDA: replay the epoch's SM passes from a CUDA graph
    merge_mm_pass: bool = False    # the MM step's forward runs in its epoch's batched SM pass

    @classmethod
    def from_config(cls, cfg: Any, **fixed: Any) -> "AdversarialSettings":
        """The settings an experiment config declares (every field of this class that ``cfg``
        has, by name), with ``fixed`` for those the experiment sets itself."""
        names = {f.name for f in dataclasses.fields(cls)}
        found = {k: getattr(cfg, k) for k in names if hasattr(cfg, k)}
        return cls(**{**found, **fixed})


PRECISIONS = ("fp32", "tf32", "bf16")


@dataclass(frozen=True)
class CriticOptions:
    """The statistics network's precision and speed options, declared once: every adversarial
    experiment's config inherits them, and :meth:`AdversarialSettings.from_config` hands them
    to the trainer."""

    sm_precision: str = param("fp32", doc="statistics-network matmuls: fp32, tf32 (CUDA) or "
                              "bf16 (autocast); an option that is not exact", choices=PRECISIONS)
    compile_critic: bool = param(False, doc="torch.compile the statistics network (exact up to "
                                 "rounding; compiles once per process)")
    graph_sm_pass: bool = param(False, doc="CUDA: replay each epoch's statistics-network passes "
                                "from a captured CUDA graph (bit-identical)", added=True)
    merge_mm_pass: bool = param(False, doc="run each MM step's forward pass in its epoch's "
                                "batched statistics-network pass (same weights; one sequential "
                                "pass fewer; equal up to rounding; needs fused_bptt)", added=True)


def check_precision(precision: str, device_type: str, name: str = "sm_precision") -> None:
    """Reject an unknown precision, or TF32 on a device that has no TF32 mode (not CUDA)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"parameter '{name}': got {precision!r}; allowed: "
                          + ", ".join(repr(p) for p in PRECISIONS))
    if precision == "tf32" and not device_type.startswith("cuda"):
        raise ConfigError(f"parameter '{name}': got 'tf32' on {device_type}; allowed there: "
                          "'fp32', 'bf16' (TF32 is a CUDA mode)")


@contextmanager
def critic_precision(precision: str, device_type: str) -> Iterator[None]:
    """Matmul precision of the statistics network (an option, not exact): ``fp32``; ``tf32``
    (CUDA only: TF32 tensor-core matmuls while the context is open); ``bf16`` (autocast, which
    the backward pass follows)."""
    check_precision(precision, device_type)
    if precision == "fp32":
        yield
    elif precision == "tf32":
        old = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32 = old
    else:
        with torch.autocast(device_type, dtype=torch.bfloat16):
            yield


def batch_slice(data: dict, start: int, count: int, parts: int) -> dict:
    """Minibatches ``start .. start + count`` of ``data`` holding ``parts`` equal minibatches
    along dimension 1 of every tensor (``None`` stays ``None``)."""
    out = {}
    for key, v in data.items():
        if v is None or count == parts:
            out[key] = v
            continue
        b = v.shape[1] // parts
        out[key] = v.narrow(1, start * b, count * b)
    return out


def check_merge(cfg: Any) -> None:
    """``merge_mm_pass`` reuses the states of a no-graph pass, which only hand-written BPTT can
    differentiate (a config with both fields)."""
    if cfg.merge_mm_pass and not cfg.fused_bptt:
        raise ConfigError("parameter 'merge_mm_pass': got True with fused_bptt=False; allowed: "
                          "True only with fused_bptt=True")


def cat_batches(a: dict, b: dict) -> dict:
    """Two batches of data (``(T, B, ...)`` tensors) as one, ``a`` first; ``None`` where ``a``
    has ``None`` (a pass that does not read it: the SM batches' targets)."""
    return {key: None if v is None else torch.cat([v, b[key]], dim=1) for key, v in a.items()}


def _batch_size(data: dict) -> int:
    return next(v for v in data.values() if v is not None).shape[1]


#: the terms watched every step (:class:`~mifd.finite.FiniteWatch`), in the order they are
#: computed, and what feeds each
WATCHED = {
    "RNN activities": "the RNN's weights and inputs (mm_lr, l2, lambda_mi, sigma)",
    "critic mean T_joint": "the statistics network's weights (sm_lr, sm_clip) and the RNN "
                           "activities",
    "critic log-mean-exp T_marginal": "the statistics network's weights (sm_lr, sm_clip) and "
                                      "the RNN activities",
    "task loss": "the RNN's outputs and the targets",
    "L2 term": "l2 and the RNN's weights",
    "MI estimate": "the statistics network and the RNN activities",
    "MM loss": "task loss + L2 term + lambda_mi · MI estimate (lambda_mi)",
}
#: MM steps between two reads of the watch on the host (besides every checkpoint)
CHECK_EVERY = 100


class AdversarialTrainer:
    """Owns the critic, both optimizers and the per-trial random streams of the SM."""

    def __init__(self, problem: Any, critic: torch.nn.Module, mm_opt: torch.optim.Optimizer,
                 sm_opt: torch.optim.Optimizer, lambda_mi: torch.Tensor,
                 gens: Sequence[torch.Generator], settings: AdversarialSettings):
        self.problem, self.critic = problem, critic
        self.mm_opt, self.sm_opt = mm_opt, sm_opt
        self.lambda_mi = lambda_mi
        self.gens = gens
        self.s = settings
        self.mm_params = [p for p in problem.model.parameters() if p.requires_grad]
        self._compiled = None  # the compiled one-pass critic, built on first use
        self._graphed = None   # the epoch's SM passes as a CUDA graph (graph_sm_pass)
        if settings.graph_sm_pass:
            check_graph_device(next(problem.model.parameters()).device)
            self._graphed = GraphedPass(lambda data: problem.run(data, grad=False))
        if settings.merge_mm_pass and not settings.batch_sm_passes:
            raise ConfigError("parameter 'merge_mm_pass': got True with batch_sm_passes=False; "
                              "allowed: True only with batch_sm_passes=True")
        self._mm_pending: tuple[dict, dict] | None = None  # (data, states) of the next MM step
        self.watch = FiniteWatch(WATCHED, len(lambda_mi), lambda_mi.device,
                                 where="MM step {step} (or the SM steps before it)")

    def state_dict(self) -> dict:
        """Everything needed to resume: both networks, both optimizers, every random stream,
        the finite watch (checked first: nothing non-finite is checkpointed)."""
        self.watch.check()
        return {"watch": self.watch.state_dict(),"model": self.problem.model.state_dict(), "critic": self.critic.state_dict(),
                "mm_opt": self.mm_opt.state_dict(), "sm_opt": self.sm_opt.state_dict(),
                "gens": generator_states(self.problem.gens), "sm_gens": generator_states(self.gens)}

    def load_state_dict(self, s: dict) -> None:
        self.problem.model.load_state_dict(s["model"])
        self.critic.load_state_dict(s["critic"])
        self.mm_opt.load_state_dict(s["mm_opt"])
        self.sm_opt.load_state_dict(s["sm_opt"])
        set_generator_states(self.problem.gens, s["gens"])
        set_generator_states(self.gens, s["sm_gens"])
        if "watch" in s:
            self.watch.load_state_dict(s["watch"])

    # ------------------------------------------------------------------ SM
    def _noise_like(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([torch.randn(x.shape[1:], generator=g, device=x.device,
                                        dtype=x.dtype) for g in self.gens])

    def _perm(self, n: int, device: torch.device) -> torch.Tensor:
        return torch.stack([torch.randperm(n, generator=g, device=device) for g in self.gens])

    def estimate(self, x: torch.Tensor, y: torch.Tensor, noise: bool = True) -> torch.Tensor:
        """The authors' noisy DV estimate per trial (differentiable in x, y and the critic)."""
        n = x.shape[1]
        if self.s.sm_samples and self.s.sm_samples < n:
            idx = torch.stack([torch.randperm(n, generator=g, device=x.device)[: self.s.sm_samples]
                               for g in self.gens])
            x = torch.take_along_dim(x, idx[:, :, None], dim=1)
            y = torch.take_along_dim(y, idx[:, :, None], dim=1)
            n = self.s.sm_samples
        perm = self._perm(n, x.device)
        sigma = self.s.sm_noise if noise else 0.0
        xn = x + sigma * self._noise_like(x) if sigma else x
        yn = y + sigma * self._noise_like(y) if sigma else y
        y_sh = torch.take_along_dim(yn if self.s.noise_on_shuffled else y, perm[:, :, None], dim=1)
        with critic_precision(self.s.sm_precision, x.device.type):
            tj, tm = self._scores(xn, yn, y_sh)
        # the DV bound (paper Eq. 14, mifd.mine.dv) from its two terms, each watched on the
        # device (mine.dv's own check would synchronise with the host every step)
        ej, lme = tj.float().mean(-1), log_mean_exp(tm.float())
        w = self.watch
        w.observe("RNN activities", x)  # each group as it is: no concatenated copy
        w.observe("RNN activities", y)
        w.observe("critic mean T_joint", ej)
        w.observe("critic log-mean-exp T_marginal", lme)
        return ej - lme

    def _scores(self, x: torch.Tensor, y: torch.Tensor, y_sh: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Critic scores of the joint and the shuffled pairs."""
        if (self.s.one_pass_critic or self.s.compile_critic) and \
                hasattr(self.critic, "joint_and_shuffled"):
            scores = self.critic.joint_and_shuffled
            if self.s.compile_critic:
                if self._compiled is None:
                    self._compiled = torch.compile(scores)
                scores = self._compiled
            return scores(x, y, y_sh)
        a, b, b_sh = self.critic.fx(x), self.critic.fy(y), self.critic.fy(y_sh)
        return self.critic.from_projections(a, b), self.critic.from_projections(a, b_sh)

    def sm_update(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One statistics-network step on detached activities; returns the DV per trial.
        Activities stored in a lower precision (separation's ``sm_states="bf16"``) are made
        fp32 here, one step's batch at a time (fp32 ones are used as they are)."""
        v = self.estimate(x.detach().float(), y.detach().float())
        self.sm_opt.zero_grad(set_to_none=True)
        # TF32 holds for the SM backward too (bf16 autocast is followed by autograd anyway);
        # in the MM step the backward runs through the RNN as well and stays fp32
        with critic_precision("tf32" if self.s.sm_precision == "tf32" else "fp32", x.device.type):
            (-v).sum().backward()
        params = list(self.critic.parameters())
        if self.s.sm_clip:
            clip_grad_norm_per_trial(params, self.s.sm_clip)
        if self.s.sm_clip_value:
            for p in params:
                p.grad.clamp_(-self.s.sm_clip_value, self.s.sm_clip_value)
        self.sm_opt.step()
        return v.detach()

    def sm_batches(self, k: int, kind: str, before_mm: bool = False
                   ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The inputs ``(x, y)`` of k SM steps, from fresh batches run without gradient: all k
        passes batched (``sm_pass_group`` at a time) or one by one. Lazy, so a group's outputs
        are consumed before the next group runs (with ``graph_sm_pass`` the next replay
        overwrites them). With ``graph_sm_pass`` the passes of every epoch (k = ``sm_per_mm``)
        are replayed from a CUDA graph; the one-off pre-training passes run eagerly.

        ``before_mm``: an MM step follows these SM steps. With ``merge_mm_pass`` its batch is
        drawn right after theirs (the order in which :meth:`mm_step` would draw it) and run in
        their last group, with the same RNN weights; :meth:`mm_step` then reuses its states and
        only runs the backward pass. One sequential pass per epoch fewer, and the same numbers
        up to the rounding of a larger batched product."""
        graphed = self._graphed is not None and k == self.s.sm_per_mm
        merge = before_mm and self.s.merge_mm_pass
        self._mm_pending = None

        def run(data: dict) -> tuple[torch.Tensor, torch.Tensor, Any]:
            if graphed:
                return self._graphed(data)
            with torch.no_grad():
                return self.problem.run(data, grad=False)

        if self.s.batch_sm_passes:
            data = self.problem.sample(kind, k)
            mm_data = self.problem.sample("mm", 1) if merge else None
            group = self.s.sm_pass_group or k
            for g0 in range(0, k, group):
                g = min(group, k - g0)
                part = batch_slice(data, g0, g, k)
                with_mm = mm_data is not None and g0 + g == k  # the last group carries it
                x, y, out = run(cat_batches(part, mm_data) if with_mm else part)
                if with_mm:
                    n_sm = _batch_size(part)
                    # copies: a graph replay would overwrite the outputs
                    self._mm_pending = (mm_data, {key: v.narrow(1, n_sm, v.shape[1] - n_sm)
                                                  .clone() for key, v in out.items()})
                    rows = x.shape[1] * n_sm // (n_sm + _batch_size(mm_data))
                    x, y = x[:, :rows], y[:, :rows]
                del out  # only x and y are needed through the SM steps
                yield from zip(x.chunk(g, dim=1), y.chunk(g, dim=1))
        else:
            for _ in range(k):
                yield run(self.problem.sample(kind, 1))[:2]

    def sm_steps(self, k: int, kind: str, before_mm: bool = False) -> torch.Tensor:
        """k SM steps on fresh batches; returns the mean DV per trial (``before_mm``: see
        :meth:`sm_batches`)."""
        return torch.stack([self.sm_update(x, y)
                            for x, y in self.sm_batches(k, kind, before_mm)]).mean(0)

    # ------------------------------------------------------------------ MM
    def mm_step(self) -> dict[str, torch.Tensor]:
        """One main-model step; returns per-trial task loss, reg loss, DV and the outputs.
        After ``sm_steps(..., before_mm=True)`` with ``merge_mm_pass`` its batch and states
        come from their pass."""
        pending, self._mm_pending = self._mm_pending, None
        if pending is None:
            data = self.problem.sample("mm", 1)
            x, y, out = self.problem.run(data, grad=True)
        else:
            data, states = pending
            x, y, out = self.problem.run(data, grad=True, states=states)
        task = self.problem.task_loss(out, data)
        reg = self.problem.reg_loss()
        mi = self.estimate(x, y, noise=self.s.mm_noise)
        total = task + reg + self.lambda_mi * mi
        w = self.watch
        w.observe("task loss", task)
        w.observe("L2 term", reg)
        w.observe("MI estimate", mi)
        w.observe("MM loss", total)
        grads = torch.autograd.grad(total.sum(), self.mm_params)
        for p, g in zip(self.mm_params, grads):
            p.grad = g
        if self.s.mm_clip:
            clip_grad_norm_per_trial(self.mm_params, self.s.mm_clip)
        self.mm_opt.step()
        self.mm_opt.zero_grad(set_to_none=True)
        w.step += 1
        if w.step % CHECK_EVERY == 0:
            w.check()
        return {"task": task.detach(), "reg": reg.detach(), "mi": mi.detach(), "out": out,
                "data": data}

