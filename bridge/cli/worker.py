"""``strum worker``: run queued jobs (see :mod:`bridge.cli.jobs`)."""

from bridge.cli.jobs import add_worker_arguments as add_arguments
from bridge.cli.jobs import run_worker_command as run

__all__ = ["add_arguments", "run"]
