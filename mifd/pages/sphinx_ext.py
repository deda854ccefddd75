"""A small Sphinx extension for the book (listed in ``_config.yml``).

- Every page states the profile it was built with (the ``MIFD_PROFILE`` that ``mifd book`` sets)
  in the theme's announcement bar.
- The *How to re-run* page's cost table is filled from the committed results
  (:func:`mifd.perf.costs.profile_costs`, as MyST substitutions ``{{ cost_… }}``), not typed;
  so are the measured effects in the discrepancy appendix
  (:func:`mifd.paper.variants.substitutions`).
- Each ``<script>`` appears once per page: sphinx-thebe 0.3.1 registers its inline configuration
  (``const THEBE_JS_URL = …``) on every read of the environment, and the second copy raises
  "Identifier 'THEBE_JS_URL' has already been declared" in the browser.
"""

from __future__ import annotations

import os

PROFILE_NOTE = ("Built with the <b>{profile}</b> profile: every number and figure on these pages "
                "was computed by the code at that profile (see <i>How to re-run</i>).")


def _announce(app) -> None:
    profile = os.environ.get("MIFD_PROFILE", "book")
    opts = app.config.html_theme_options
    if not opts.get("announcement"):
        opts["announcement"] = PROFILE_NOTE.format(profile=profile)


def _costs(app, config) -> None:
    from ..paper.variants import substitutions
    from ..perf.costs import profile_costs
    config.myst_substitutions = {**profile_costs(), **substitutions(),
                                 **(config.myst_substitutions or {})}


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        key = (str(getattr(js, "filename", js) or ""),  # None and "" both mean inline
               tuple(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    scripts[:] = kept


def setup(app):
    app.connect("builder-inited", _announce)
    app.connect("config-inited", _costs)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
