"""What a GPU session trains: the experiments a session can run and their default profiles, the
next shard of seeds after the committed ones, the precision comparison once all are committed,
and the session's arguments (``GPU_ARGS``) planned here before the call (:mod:`mifd.gpu.tree`).
"""

from __future__ import annotations

from ..config import ConfigError
from ..experiments import EXPERIMENTS as ALL, get_experiment


#: the experiments a session can run (those with a
#: :attr:`~mifd.experiments.base.Experiment.session_profile`): the working-memory task's,
#: stepped one epoch at a time, Growing Brains (one training step) and chaotic separation (one
#: MM step)
EXPERIMENTS = tuple(name for name, e in ALL.items() if e.session_profile is not None)
#: the profile a session runs when the caller names none, where it is not ``paper`` (its trials
#: sharded over sessions): the profile made for one GPU call where the published run cannot be
#: sharded into calls (separation: 34 GPU-hours, ≈ 2 h per trial)
DEFAULT_PROFILES = {name: e.session_profile for name, e in ALL.items()
                    if e.session_profile not in (None, "paper")}


def default_profile(experiment: str) -> str:
    """The profile a session of ``experiment`` runs unless told (its
    :attr:`~mifd.experiments.base.Experiment.session_profile`; one-line error for an experiment
    no session runs)."""
    profile = get_experiment(experiment).session_profile
    if profile is None:
        raise ConfigError(f"parameter 'experiment': got {experiment!r}; allowed: one of "
                          + ", ".join(repr(e) for e in EXPERIMENTS))
    return profile


def check_session_profile(experiment: str, profile: str) -> None:
    """Refuse, in one line, a profile that no session can run: the ``paper`` profile of an
    experiment whose session runs another (:data:`DEFAULT_PROFILES`), since one of its trials
    alone outlasts a call."""
    if profile == "paper" and default_profile(experiment) != "paper":
        raise ConfigError(f"parameter 'profile': got 'paper' for a {experiment} GPU session "
                          "(the published run takes GPU-hours and cannot be split into calls); "
                          f"allowed: {DEFAULT_PROFILES[experiment]!r} (the default)")


#: trials per condition of the comparison run at the other critic precision (TF32 beside the
#: profile's fp32: the authors' wm runs set NVIDIA_TF32_OVERRIDE=0, so TF32 is a measured option)
COMPARISON_TRIALS = 4
#: the precision each profile precision is compared with
COMPARISON = {"fp32": "tf32", "tf32": "fp32"}


def next_shard(profile: str, device: str, overrides: dict, trials: int | None,
               experiment: str = "wm") -> tuple[dict, str]:
    """What this session should train when the caller names no seed: the next consecutive
    seeds after the committed shards of the profile (as it runs on ``device``); once all of
    its trials are committed, the precision comparison (:data:`COMPARISON_TRIALS` trials per
    condition from the first seed at the other precision, :data:`COMPARISON`); once that is
    committed too, nothing. Returns the overrides (``seed``, ``trials`` = the most that may
    run) and a one-line plan."""
    from ..results.shards import committed_shards
    if "seed" in overrides:
        return overrides, f"as asked: seed {overrides['seed']}"
    if experiment != "wm":
        return overrides, f"{experiment} from the first seed"
    exp = get_experiment("wm")
    cfg = exp.config(profile, overrides, device)
    if not device.startswith("cuda"):
        return overrides, "from the first seed (not on CUDA: no committed shards to continue)"
    done = committed_shards("wm", profile, "cuda", where={"sm_precision": cfg.sm_precision})
    have = done.config.trials if done is not None else 0
    if have < cfg.trials:
        seed = cfg.seed + have
        n = cfg.trials - have if trials is None else min(trials, cfg.trials - have)
        return ({**overrides, "seed": seed, "trials": n},
                f"the next shard: seeds from {seed} ({have} of {cfg.trials} per condition "
                "committed)")
    other = COMPARISON.get(cfg.sm_precision)
    if other is not None and "sm_precision" not in overrides:
        cmp_run = committed_shards("wm", profile, "cuda", where={"sm_precision": other})
        if cmp_run is None or cmp_run.config.trials < COMPARISON_TRIALS:
            have_o = cmp_run.config.trials if cmp_run is not None else 0
            return ({**overrides, "sm_precision": other, "seed": cfg.seed + have_o,
                     "trials": COMPARISON_TRIALS - have_o},
                    f"all {cfg.trials} trials committed; the {other} comparison "
                    f"({have_o} of {COMPARISON_TRIALS} per condition committed)")
    return overrides, "complete: nothing to train"


def plan_args(profile: str | None = None, overrides: dict | None = None,
              experiment: str = "wm") -> list[str]:
    """The arguments of a GPU session (``GPU_ARGS``) planned here, from the committed results,
    for a call whose tree travels without them (:mod:`mifd.gpu.tree`): the experiment and every
    override :func:`next_shard` chooses, as ``--set``. Refused in one line when nothing is left
    to train."""
    profile = profile or default_profile(experiment)
    check_session_profile(experiment, profile)
    over, plan = next_shard(profile, "cuda", dict(overrides or {}), None, experiment)
    if plan.startswith("complete"):
        raise ConfigError(f"parameter 'experiment': got {experiment!r} with every trial of its "
                          f"{profile!r} profile committed; allowed: another experiment or "
                          "--set seed=… by hand")
    args = [] if experiment == "wm" else ["--experiment", experiment]
    args += [] if profile == default_profile(experiment) else ["--profile", profile]
    for k, v in over.items():
        v = ",".join(map(repr if isinstance(v, float) else str, v)) \
            if isinstance(v, (tuple, list)) else (repr(v) if isinstance(v, float) else str(v))
        args += ["--set", f"{k}={v}"]
    return args
