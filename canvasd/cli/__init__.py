"""The client side: the `canvasd` command line, its output, the HTTP client and the per-user service files.

Every command except `serve`, `service` and `config` talks to the daemon over its HTTP API (`client.py`).
"""

from canvasd.cli.commands import main

__all__ = ["main"]
