"""The PySide6 desktop app (the only part of dermview that imports Qt).

Entry points: :func:`dermview.gui.app.run_app` (the ``dermview`` command without a
sub-command) and :func:`dermview.gui.app.create_main_window` (tests, scripts, self-test).
"""
