"""The discrepancy appendix's (*Paper versus the authors' code*) computed text: the measured
effects and what is measured so far, as MyST substitutions filled from the committed runs when
the book is built (:func:`substitutions`), never typed.

Each sentence is a function of its inputs (runs, configs, names), tested on hand-built ones;
:func:`substitutions` only looks the committed runs up and calls them.
"""

from __future__ import annotations

from typing import Any

from ..results.stored import stored_run
from .options import named_differences
from .variants import (BASE, METRICS, SEPARATION_KERAS, SEPARATION_METRICS, VARIANTS, committed,
                       measured_sentence, paired_effect)

#: what a substitution says while its runs are not committed
MISSING = "not computed yet (`make results` computes it)"


def l2_sentence(cfg: Any) -> str:
    """The L2 weights (Keras convention, c·Σw²) at which a separation config trains its MI
    conditions: ``l2`` (condition ``mi_l2``), none (``mi_no_l2``) and the extra conditions of
    ``sweep_l2``."""
    conds = cfg.conditions
    run = ([f"{cfg.l2:g} (`mi_l2`)"] if "mi_l2" in conds else []) + \
        (["0 (`mi_no_l2`)"] if "mi_no_l2" in conds else [])
    sweep = [f"{v:g}" for v in cfg.sweep_l2]
    return ("its committed `book` run trains the MI condition at "
            + ((f"L2 weight{'s' if len(run) > 1 else ''} " + " and ".join(run)) if run
               else "no default L2 weight")
            + (f", and at {' and '.join(sweep)} as extra condition"
               f"{'s' if len(sweep) > 1 else ''} (`sweep_l2`)" if sweep
               else ", with no extra weights (`sweep_l2` empty)"))


def precision_sentence(effect: Any, stale: Any) -> str:
    """Whether TF32 against fp32 in the working-memory statistics network is measured:
    ``effect`` (:func:`mifd.results.shards.precision_effect`, ``None`` until both are
    committed) and ``stale`` (the committed GPU shards of earlier settings, or ``None``)."""
    if effect is not None:
        return f"measured on {len(effect)} trials (condition × seed) run both ways"
    if stale is None:
        return "not measured yet: no GPU run of the `paper` profile is committed"
    other = [f"{stale.config.sm_precision.upper()} critic matmuls", *named_differences(
        stale.config)]
    return ("not measured yet: the committed GPU runs of the `paper` profile "
            f"({stale.config.trials} trials per condition) ran with " + ", ".join(other[:-1])
            + f" and {other[-1]}, made before those defaults changed, and no fp32 run "
            "is committed beside them")


def _wm_effects(out: dict[str, str]) -> None:
    base = BASE.get("book", {})
    default = stored_run("wm", "book", base)
    for key, name in (("rmsprop_eps_book", "RMSprop ε outside √"),
                      ("double_bias_wm", "one critic bias")):
        over = {**base, "conditions": ("mi",), **VARIANTS[name][0]}
        other = stored_run("wm", "book", over) if default is not None else None
        out[key] = (MISSING if other is None else
                    "working memory, MI condition, " + paired_effect(default, other, "mi",
                                                                     METRICS))


def substitutions() -> dict[str, str]:
    """The discrepancy appendix's substitutions: ``rmsprop_eps_book``, ``double_bias_wm``,
    ``keras_adam_separation`` (measured effects), ``variants_measured`` (which of the paper's
    versions are measured on the variants page, :func:`mifd.paper.variants.committed`),
    ``separation_l2_run`` (the L2 weights the separation run trained) and
    ``tf32_fp32_status`` (whether TF32 against fp32 is measured)."""
    from ..results import shards
    from .wm import GPU_STALE_SETTINGS
    out: dict[str, str] = {}
    _wm_effects(out)
    sep = stored_run("separation", "book")
    other = stored_run("separation", "book", SEPARATION_KERAS) if sep is not None else None
    out["keras_adam_separation"] = (MISSING if other is None else
                                    "separation, L2 + MI condition, both options together, "
                                    + paired_effect(sep, other, "mi_l2", SEPARATION_METRICS))
    out["variants_measured"] = measured_sentence(*committed("book"))
    out["separation_l2_run"] = MISSING if sep is None else l2_sentence(sep.config)
    out["tf32_fp32_status"] = precision_sentence(
        shards.precision_effect("wm", "paper", "tf32", "fp32"),
        shards.committed_shards("wm", "paper", "cuda", where=GPU_STALE_SETTINGS))
    return out
