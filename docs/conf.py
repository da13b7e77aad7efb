"""Sphinx configuration: the architecture and method pages (Markdown, myst-parser), the
README as the tour, and the API reference from the docstrings (autodoc + napoleon).

Build (CI runs this with warnings as errors): ``python -m sphinx -W -b html docs out``.
"""
project = "seqcore"
author = "the seqcore developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
# docstrings are numpydoc-style (Parameters / Returns / Raises) or Google-style (Args:)
napoleon_numpy_docstring = True
napoleon_google_docstring = True
napoleon_use_ivar = True          # "Attributes" as fields: no clash with the properties
autodoc_typehints = "none"        # the docstrings give shapes and dtypes
autodoc_member_order = "bysource"
myst_heading_anchors = 3
html_theme = "alabaster"
