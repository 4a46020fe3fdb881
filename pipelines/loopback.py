"""A free TCP port on loopback, for the servers the project starts on this machine.

The Celery night's API server and log servers, the inspector's live server and the Airflow API
server of the operator tests all need a port nobody listens on; this is the one place that asks
the kernel for one.
"""

from __future__ import annotations

import socket


def free_loopback_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now (the kernel's choice)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
