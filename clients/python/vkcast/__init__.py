"""vkcast's Python client: stream an engine's frames to web browsers through vkcast.

A drop-in for SimVX's original StreamingServer: change the import line, keep the engine loop.
The protocol underneath is docs/ingest-protocol.md in the vkcast repository.
"""
from ._protocol import IngestError
from .server import StreamingServer

__all__ = ["StreamingServer", "IngestError"]
