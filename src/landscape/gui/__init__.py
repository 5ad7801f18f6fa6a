"""The artist's launcher (``landscape gui``): a PySide6 window over the same library API as
the command line. Only :mod:`landscape.gui.window` and :mod:`landscape.gui.app` import Qt;
the backend, its data model and the per-user settings are plain Python."""
