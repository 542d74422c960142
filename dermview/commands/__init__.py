"""Sub-commands of the ``dermview`` CLI.

Each module defines ``NAME`` (the sub-command), ``HELP`` (one line), ``add_arguments(parser)``
and ``run(args) -> int`` (exit status), and may define ``EPILOG`` (text after the options in
``--help``). Modules must import quickly: heavy imports (torch, Qt)
go inside ``run``.
"""

#: Module names (in this package) of the registered sub-commands, in help order.
COMMAND_MODULES: list[str] = ["segment", "evaluate", "preprocess", "analyze", "finetune", "self_test",
                             "export", "import_"]
