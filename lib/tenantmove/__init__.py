"""tenantmove: move a Microsoft 365 organisation from one tenant to another, auditably."""

__version__ = "0.1.0"

from .errors import TenantmoveError  # noqa: E402

__all__ = ["TenantmoveError", "__version__"]
