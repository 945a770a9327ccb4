"""seaweed-volume: a pure-Python drop-in replacement for the SeaweedFS volume server."""

__version__ = "0.1.0"
