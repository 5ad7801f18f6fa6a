"""Landscape: reproducible per-project production environments in containers.

Layers, each importing only the ones before it: config files (:mod:`landscape.nodes`,
:mod:`landscape.schema`) → cascade (:mod:`landscape.merge`, :mod:`landscape.cascade`,
:mod:`landscape.manifests`, :mod:`landscape.tools`) → resolved context
(:mod:`landscape.context`, :mod:`landscape.rezsolve`, :mod:`landscape.imagekey`) → build
plan (:mod:`landscape.plan`) → engine (:mod:`landscape.engine`) → CLI (:mod:`landscape.cli`).
"""

__version__ = "0.1.0"
