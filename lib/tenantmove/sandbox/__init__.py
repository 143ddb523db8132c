"""The embedded sandbox: a local stand-in for Microsoft's sign-in service, Graph and DNS."""

from .process import Sandbox, read_endpoints

__all__ = ["Sandbox", "read_endpoints"]
