"""Performance: timing the training loops, counting their cost, and reading back the
committed benchmark results.

- :mod:`mifd.perf.measure`: ``mifd bench`` (rows timed at the published sizes, in fresh
  processes where the allocator must start at glibc's defaults), phase breakdowns, operation
  counts.
- :mod:`mifd.perf.harness`: what the measurements share (the training unit of an
  experiment, a function run in a fresh interpreter).
- :mod:`mifd.perf.options`: the arguments of ``mifd bench``, typed and checked.
- :mod:`mifd.perf.rows`: benchmark row names (``mifd+bf16+fused``, ``port``) and what they mean.
- :mod:`mifd.perf.costs`: counted FLOPs, what the GPU goals demand, what each profile cost.
- :mod:`mifd.perf.committed`: the committed benchmark JSONs, their tables and the goals' verdicts.
- :mod:`mifd.perf.allocator_ab`: the A/B of the host-memory setting (:mod:`mifd.accel.allocator`).
- :mod:`mifd.perf.port`: the straightforward port of the working-memory loop, the baseline.
- :mod:`mifd.perf.summary`: the performance page's takeaway and closing points.
- :mod:`mifd.perf.settings`: the execution settings and speed options in words (the store key,
  the GPU sessions' options) for the performance and re-run pages.

The names the book's performance page uses are importable from here.
"""

from .committed import (GOALS, allocator_ab_frame, allocator_effect, cuda_test_results,
                        goal_verdicts, load_committed, load_phases, load_sm_pass, option_effect,
                        phase_sentences, phases_frame, rows_frame)
from .costs import GOAL_MINUTES, H100_PEAKS, paper_requirements, profile_costs
from .measure import format_table, ops_per_draw, ops_per_step, phase_times, run_bench, \
    wm_sm_pass_times
from .options import BenchOptions
from .rows import INEXACT_PARTS, PORTS, is_exact, is_exact_mifd

__all__ = ["BenchOptions", "GOALS", "GOAL_MINUTES", "H100_PEAKS", "INEXACT_PARTS", "PORTS",
           "allocator_ab_frame", "allocator_effect", "cuda_test_results", "format_table",
           "goal_verdicts", "is_exact", "is_exact_mifd", "load_committed", "load_phases",
           "load_sm_pass", "ops_per_draw", "ops_per_step", "option_effect", "paper_requirements",
           "phase_times", "profile_costs", "phase_sentences", "phases_frame", "rows_frame", "run_bench",
           "wm_sm_pass_times"]
