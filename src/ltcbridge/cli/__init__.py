"""The ``ltcbridge`` command, one module per command group: ``feed``, ``mappings``, ``hub``,
``daemon`` (init, check, sync, run, status, ...), ``release``, ``provider``, ``secagg``; ``app``
builds the parser and is the one error boundary; ``support`` holds what they share."""

from ltcbridge.cli.app import EXIT_ERROR, EXIT_OK, EXIT_QUARANTINED, EXIT_USAGE, main

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_QUARANTINED", "EXIT_USAGE", "main"]
