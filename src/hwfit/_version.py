"""The hwfit version, single-sourced for packaging and result records."""

__version__ = "0.1.0"
