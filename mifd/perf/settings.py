"""The execution settings and speed options in words, computed from the code and the committed
data: which settings enter the store key (*How to re-run*), whether the committed GPU sessions
ran with the speed options and whether those are timed on a GPU (the settings of each session:
:func:`mifd.gpu.tables.session_table`), and whether the variants page measured the bf16
critic.

Each sentence is a function of its inputs (config classes, configs, benchmark results, tables),
tested on hand-built ones; :func:`substitutions` and :func:`lever_notes` look the committed
data up and call them.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from ..paper.formatting import and_list as _and
from .rows import PORTS, ROW_PARTS, row_parts

#: the rows of *How to re-run*'s table of the separation ``paper`` profile's execution settings
#: (``tests/test_page_text.py`` checks the page's table against it)
EXECUTION_SETTINGS = ("time_chunk", "bptt_checkpoint", "sm_pass_group", "fused_bptt",
                      "merge_mm_pass")
#: the speed options the committed GPU sessions are asked about (the lever table's two rows)
SESSION_OPTIONS = ("fused_bptt", "merge_mm_pass")
_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def _count(n: int) -> str:
    return _WORDS[n] if 0 <= n < len(_WORDS) else str(n)


def _code(names: Sequence[str]) -> str:
    return _and([f"`{n}`" for n in names])


def store_key_sentence(cls: type, names: Sequence[str] = EXECUTION_SETTINGS) -> str:
    """How the settings ``names`` of config class ``cls`` enter the store key: a field declared
    ``param(..., added=True)`` (added after results were stored) enters it only when set away
    from the value earlier results had (:func:`mifd.config.config_hash`), every other field
    always."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    added = [n for n in names if fields[n].metadata.get("added")]
    keyed = [n for n in names if n not in added]
    same = all(fields[n].metadata.get("legacy") == fields[n].default for n in added)
    text = (f"{_count(len(names)).capitalize()} execution settings, exact up to float "
            "rounding, bound the memory or save time (the table below)")
    if not added:
        return text + "; all are config fields, so they enter the store key."
    enter = "is a config field that enters" if len(keyed) == 1 else \
        "are config fields that enter"
    return (text + (f"; {_code(keyed)} {enter} the store key, while " if keyed else "; ")
            + f"{_code(added)}, added after results were stored (declared `added=True`), "
            f"enter{'s' if len(added) == 1 else ''} {'it' if keyed else 'the store key'} "
            "only when set away from "
            + (f"{'its' if len(added) == 1 else 'their'} default" if same
               else "the value earlier results had")
            + ", so the keys of earlier results stay valid.")


def key_clause(cls: type, name: str) -> str:
    """Whether the field ``name`` of config class ``cls`` always enters the store key, as a
    clause about "it"."""
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    if not f.metadata.get("added"):
        return "it is a config field, so it enters the store key"
    return ("it was added after results were stored and enters the store key only when "
            "set away from " + ("its default" if f.metadata.get("legacy") == f.default else
                                "the value earlier results had"))


def timed_on_gpu(option: str, results: Sequence[dict]) -> bool:
    """Whether a committed GPU benchmark times a row with ``option`` set beside a row of the
    same experiment and batch without it (the path it replaces)."""
    def has(impl: str) -> bool:
        return impl not in PORTS and any(ROW_PARTS[p][1].get(option) for p in row_parts(impl))
    for res in results:
        rows = [r for r in res["rows"] if str(r["device"]).startswith("cuda")]
        for r in rows:
            if has(r.get("impl", "mifd")) and any(
                    not has(o.get("impl", "mifd")) and o.get("impl", "mifd") not in PORTS
                    and (o["experiment"], o["trials"]) == (r["experiment"], r["trials"])
                    for o in rows):
                return True
    return False


def session_options_sentence(runs: Sequence[tuple[str, str, Any]], results: Sequence[dict],
                             pointer: str, options: Sequence[str] = SESSION_OPTIONS) -> str:
    """One sentence for both speed options ``options``: whether the committed GPU sessions'
    runs (``runs``: experiment, profile and config of each) ran with them (their time per
    trial-epoch: ``pointer``), and whether a GPU benchmark (``results``) times each against
    the path it replaces."""
    n = len(runs)
    if not n:
        text = f"No committed GPU session has trained a run, so {_code(options)} are not timed"
    else:
        uses = {o: sum(bool(getattr(c, o, False)) for _, _, c in runs) for o in options}
        of = _and([f"`{e}` `{p}` profile" for e, p in dict.fromkeys((e, p) for e, p, _ in runs)])
        who = (f"The run of the one committed GPU session that trained ({of})" if n == 1 else
               f"The runs of the {_count(n)} committed GPU sessions that trained ({of})")
        how = ("both " if len(options) == 2 else "") + _code(options) if all(
            k == n for k in uses.values()) else _and(
            [f"`{o}` in {k} of {n}" for o, k in uses.items()])
        text = f"{who} ran with {how} (their time per trial-epoch: {pointer})"
    untimed = [o for o in options if not timed_on_gpu(o, results)]
    if not untimed:
        return text + "; each is also timed on a GPU against the path it replaces."
    return text + ("; neither is yet" if len(untimed) == 2 == len(options) else
                   f"; {_code(untimed)} {'is' if len(untimed) == 1 else 'are'} not yet") + \
        " timed on a GPU against the path it replaces."


def kernel_note(kernels: Any) -> str:
    """The line under the kernel table: where the bf16 states of the statistics network are
    timed, or that they are not yet."""
    if not len(kernels):
        return ("No GPU session with kernel timings is committed yet, so neither the Triton "
                "loop nor its bf16 states (next section) are timed on a GPU.")
    bf16 = sorted({i for i in kernels["implementation"] if "bf16 states" in str(i)})
    if not bf16:
        return "bf16 states (next section): not timed in these sessions."
    return "bf16 states (next section): the rows " + _and([f"*{i}*" for i in bf16]) + " above."


def lever_notes(profile: str = "book") -> str:
    """What the lever table leaves to the data (Markdown): whether the variants page measured
    the bf16 critic, and the GPU sessions' speed options."""
    from ..gpu.tables import session_runs
    from ..paper import variants
    from .committed import load_committed
    measured, _ = variants.committed(profile)
    return ("- bf16 matmuls in the critic: " + variants.option_sentence("bf16 critic", measured)
            + f" ({{ref}}`chap-variants`, `{profile}` profile).\n- "
            + session_options_sentence(session_runs(), [r for _, r in load_committed()],
                                       "the sessions table below"))


def substitutions() -> dict[str, str]:
    """*How to re-run*'s substitutions: ``rerun_store_key`` (the execution settings and the
    store key, :func:`store_key_sentence` of the separation config), ``rerun_graph_key``
    (:func:`key_clause` of ``graph_sm_pass``) and ``rerun_gpu_sessions``
    (:func:`session_options_sentence`)."""
    from ..experiments import get_experiment
    from ..gpu.tables import session_runs
    from .committed import load_committed
    cls = get_experiment("separation").config_cls
    return {"rerun_store_key": store_key_sentence(cls),
            "rerun_graph_key": key_clause(cls, "graph_sm_pass"),
            "rerun_gpu_sessions": session_options_sentence(
                session_runs(), [r for _, r in load_committed()],
                "the sessions table of {ref}`chap-performance`")}
