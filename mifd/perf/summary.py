"""The performance page's takeaway and closing points, written from the goals' verdicts
(:func:`mifd.perf.committed.goal_verdicts`) and the counted requirements
(:func:`mifd.perf.costs.paper_requirements`)."""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["findings", "summary_points"]


def _goals(verdicts: Any) -> tuple[list[str], list[str], list[str]]:
    """(met, not met, not measured) goal names; information rows (verdict "—") left out."""
    v = verdicts.reset_index() if "goal" not in verdicts.columns else verdicts
    met = [g for g, r in zip(v["goal"], v["verdict"]) if r == "met"]
    miss = [g for g, r in zip(v["goal"], v["verdict"]) if r == "not met"]
    unmeasured = [g for g, r in zip(v["goal"], v["verdict"]) if str(r).startswith("not measured")]
    return met, miss, unmeasured


def findings(verdicts: Any) -> str:
    """The takeaway (Markdown): which speed goals the committed benchmarks meet."""
    met, miss, unmeasured = _goals(verdicts)
    total = len(met) + len(miss) + len(unmeasured)
    best = dict(zip(verdicts.reset_index()["goal"], verdicts.reset_index()["best measured"]))
    lines = [f"{len(met)} of {total} speed goals met on the committed benchmarks."]
    lines += [f"- **not met**: {g} — best exact measurement {best[g]}" for g in miss]
    lines += [f"- **met**: {g} — {best[g]}" for g in met]
    lines += [f"- **not measured**: {g}" for g in unmeasured]
    return "\n".join(lines)


def summary_points(verdicts: Any, requirements: Sequence[dict]) -> list[str]:
    """The closing points: the goals' tally and what counting alone says each GPU goal needs."""
    met, miss, unmeasured = _goals(verdicts)
    out = [f"Goals met: {len(met)}; not met: {len(miss)}"
           + (f" ({'; '.join(miss)})" if miss else "")
           + f"; not measured: {len(unmeasured)}."]
    for r in requirements:
        fp32 = r["× H100 fp32 peak"]
        out.append(f"{r['experiment']}: the {r['goal (min)']:.0f}-minute goal needs "
                   f"{r['needed TFLOP/s']:.0f} TFLOP/s sustained, {fp32:.2f}× the H100's fp32 "
                   "peak — " + ("only reduced-precision matmuls (an explicit option) could "
                                "meet it" if fp32 > 1 else "possible in fp32") + ".")
    return out
