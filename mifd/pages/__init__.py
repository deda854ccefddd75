"""The book's side of the library: plotting, widgets, assets and the Sphinx extension."""
