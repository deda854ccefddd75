"""Whether a result counts as made by this code: made by it, or reproduced by it on replay.

A result records the hash of the code that made it (:mod:`mifd.results.fingerprint`); a replay
(:mod:`mifd.results.replay`) that reproduces it adds a record of the replaying code to its provenance
(``meta["reproduced"]``). The store, the runner and the condition parts ask here.
"""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["describe_reproduction", "is_current", "reproduction"]


def is_current(meta: Mapping[str, Any], code: str | None) -> bool:
    """Whether a result with provenance ``meta`` counts as made by the code ``code``: made by
    it, or reproduced by it on replay (``meta["reproduced"]``)."""
    if code is None:
        return False
    if meta.get("code", {}).get("hash") == code:
        return True
    return any(r.get("code") == code for r in meta.get("reproduced", ()))


def reproduction(meta: Mapping[str, Any], code: str | None) -> dict | None:
    """The replay record of ``code`` in ``meta`` (``None`` where the result was made by
    ``code`` itself, or never replayed by it)."""
    if meta.get("code", {}).get("hash") == code:
        return None
    return next((r for r in meta.get("reproduced", ()) if r.get("code") == code), None)


def _how(r: Mapping[str, Any]) -> str:
    """How a replay matched: bit for bit, or within its stated tolerance and why."""
    if r.get("mode") != "within tolerance":
        return "bit for bit"
    why = {"different": "made on other CPU numerics",
           "unrecorded": "made on CPU numerics its record does not name"}.get(r.get("numerics"),
                                                                             "")
    return (f"within {r.get('tolerance_scaled', 0):g} of each value's scale over its first "
            + (f"{r.get('tolerance_steps', 1)} steps" if r.get('tolerance_steps', 1) != 1
               else "step") + " and initial snapshot only, the critic's "
            "estimates not compared "
            f"(largest {max(r.get('tolerance', {0: 0}).values()):.1e}; {why}: later steps "
            "amplify rounding)")


def describe_reproduction(meta: Mapping[str, Any], code: str | None) -> str:
    """One line for a page: how a result made by other code is known to be this code's."""
    r = reproduction(meta, code)
    if r is None:
        return ""
    made = meta.get("code", {})
    return (f"; made by code {made.get('hash')} ({(made.get('git_commit') or '?')[:10]}), "
            f"reproduced by this code {_how(r)} on replay of the first {r['steps']} of "
            f"{r['of']} steps of its unit {r.get('unit', 'train')!r} ({len(r['compared'])} "
            f"histor{'y' if len(r['compared']) == 1 else 'ies'} and snapshot metrics of every "
            f"trial; {r['date'][:10]})"
            + (f" — float64 evaluation metrics equal within {r.get('float64_rtol', 1e-12):g} "
               "relative, not "
               f"bit for bit ({', '.join(f'{k} {v:.1e}' for k, v in rounding.items())}: "
               "numpy's summation order)" if (rounding := r.get("float64_rounding")) else "")
            + "; later units and the last evaluation not replayed")
