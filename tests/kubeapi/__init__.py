"""A Kubernetes API server for tests: the real REST protocol for real `kubectl` and clients.

See README.md in this directory for the Python API, the admin HTTP API and the
pytest fixtures.
"""

from .errors import ApiError
from .faults import Client, FaultRule
from .rollouts import DELAY_ANNOTATION, Revision, is_rolled_out
from .server import KubeApiServer, RequestRecord
from .store import Event

__all__ = [
    "DELAY_ANNOTATION",
    "ApiError",
    "Client",
    "Event",
    "FaultRule",
    "KubeApiServer",
    "RequestRecord",
    "Revision",
    "is_rolled_out",
]
