"""The 2-bit working-memory (flip-flop) task, generated as the authors' code does.

Four input channels in the order ON1, OFF1, ON2, OFF2. At every step each channel starts a pulse
with probability ``p`` (0.002); a pulse holds amplitude ``amp`` (1) for ``width`` (40) steps
(overlapping pulses do not add). The memory state of bit j becomes +1 at an ON_j onset, −1 at an
OFF_j onset (ON wins a tie) and otherwise holds; it starts at −1 (+1 if ON_j fires at step 0).

Target (``target="ramp"``, the authors' code): a signal starting at 0 that moves by
``ramp`` (0.1) per step in the direction of the state, clipped to [−1, 1]; the target of step t
is that signal one step later, so the target at index k − 1 already moves for a pulse whose
input starts at index k (as in the authors' code). The paper's
idealized description (``target="step"``) uses the state itself.

Sequences are ``transient + steps`` long (1000 + 2000): the transient is run without gradient,
pulses occur in it too. Each trial draws from its own generator, so a trial's data do not depend
on the other trials generated with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

CHANNELS = ("ON1", "OFF1", "ON2", "OFF2")


@dataclass(frozen=True)
class FlipFlopSpec:
    p: float = 0.002
    width: int = 40
    amp: float = 1.0
    ramp: float = 0.1
    target: str = "ramp"  # "ramp" (authors' code) | "step" (paper text)


def onsets(gens: Sequence[torch.Generator], batch: int, length: int, p: float) -> torch.Tensor:
    """Pulse onsets ``(T, B, L, 4)`` (bool), one generator per trial (on the generators' device)."""
    return torch.stack([torch.rand(batch, length, 4, generator=g, device=g.device) < p
                        for g in gens])


def pulses(onset: torch.Tensor, width: int, amp: float) -> torch.Tensor:
    """Inputs: ``amp`` on ``[onset, onset + width)`` of each onset (no summation of overlaps)."""
    c = torch.cumsum(onset.to(torch.int32), dim=-2)
    shifted = torch.zeros_like(c)
    shifted[..., width:, :] = c[..., :-width, :]
    return amp * ((c - shifted) > 0).to(torch.float32)


def memory_state(onset: torch.Tensor) -> torch.Tensor:
    """State ``(..., L, 2)`` of each bit: last onset wins, ON beats OFF at the same step, −1 first."""
    on, off = onset[..., 0::2], onset[..., 1::2]
    event = torch.where(on, 1.0, torch.where(off, -1.0, 0.0))
    L = event.shape[-2]
    t = torch.arange(L, device=event.device).view(*([1] * (event.dim() - 2)), L, 1)
    last = torch.where(event != 0, t, torch.full_like(t, -1)).cummax(dim=-2).values
    filled = torch.gather(event, -2, last.clamp(min=0).expand_as(event))
    return torch.where(last >= 0, filled, torch.full_like(filled, -1.0))


def ramp_target(state: torch.Tensor, ramp: float, chunk: int = 64) -> torch.Tensor:
    """``s_t = clip(s_{t−1} + ramp·state_t, −1, 1)`` for every step t of ``state`` ``(..., L, 2)``,
    from ``s_{−1} = 0``.

    Bit-identical to the step-by-step loop, with about ``2·chunk`` instead of L sequential
    operations (on a GPU each is a kernel launch). The L steps are cut into chunks of ``chunk``
    steps, run side by side, each from a guess of the signal before its first step: 0 for the
    first chunk, and for the others the saturated value in the direction of the state at the
    previous step (a constant state saturates the signal within about 2/ramp steps). A round
    runs every chunk from its guess; the guesses are then replaced by the previous chunks' last
    values, and the rounds stop when none changes. The first chunk's guess is exact, so after r
    rounds the first r chunks are, and the rounds end after at most ⌈L/chunk⌉; when they end,
    every chunk starts from the exact value and runs the loop's float32 operations
    (``tests/test_wm.py`` checks equality bit for bit, on data where the guesses are wrong too).
    """
    if chunk < 1:
        raise ValueError(f"parameter 'chunk': got {chunk!r}; allowed: an integer >= 1")
    L = state.shape[-2]
    if L == 0:
        return torch.empty_like(state)
    n = -(-L // chunk)
    # (chunk, ..., n, 2): the step within the chunk first, so that each step reads a block;
    # the padded steps add 0
    inc = (ramp * F.pad(state, (0, 0, 0, n * chunk - L))).unflatten(-2, (n, chunk))
    inc = inc.movedim(-2, 0).contiguous()
    guess = torch.cat([torch.zeros_like(inc[0, ..., :1, :]), torch.sign(inc[-1, ..., :-1, :])],
                      dim=-2)
    out = torch.empty_like(inc)
    for rounds in range(1, n + 1):
        s = guess
        for t in range(chunk):
            s = torch.clamp(s + inc[t], -1.0, 1.0)
            out[t] = s
        ends = out[-1, ..., :-1, :]
        if rounds == n or torch.equal(ends, guess[..., 1:, :]):
            break
        guess = torch.cat([guess[..., :1, :], ends], dim=-2)
    return out.movedim(0, -2).flatten(-3, -2)[..., :L, :]


def generate(gens: Sequence[torch.Generator], batch: int, length: int,
             spec: FlipFlopSpec = FlipFlopSpec(), device: str | torch.device = "cpu",
             targets: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Inputs ``(T, B, L, 4)`` and targets ``(T, B, L, 2)`` for ``len(gens)`` trials.

    Following the authors' indexing, ``L + 1`` onset steps are drawn: inputs use steps ``0..L−1``
    and the target at step t is the ramped signal after the state of step ``t + 1``.
    ``targets=False`` returns ``None`` for the targets (the statistics network's steps do not
    read them); the targets draw no random numbers, so the inputs are the same either way.
    """
    if spec.target not in ("ramp", "step"):
        raise ValueError(f"parameter 'target': got {spec.target!r}; allowed: 'ramp', 'step'")
    on = onsets(gens, batch, length + 1, spec.p)
    x = pulses(on, spec.width, spec.amp)[..., :length, :]
    if not targets:
        return x.to(device), None
    state = memory_state(on)
    if spec.target == "ramp":
        y = ramp_target(state[..., 1:, :], spec.ramp)
        # the authors' signal starts at 0 at index 0 and is updated from index 1 on
    else:
        y = state[..., 1:, :]
    return x.to(device), y.to(device)
