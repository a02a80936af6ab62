"""One module per ``pipecast`` command: ``configure(parser)`` and ``run(args) -> int``."""
