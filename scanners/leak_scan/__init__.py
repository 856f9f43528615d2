"""leak-scan: finds AWS access keys in files, staged changes and git history."""

from __future__ import annotations

__version__ = "0.1.0"
SCANNER = f"leak-scan {__version__}"

__all__ = ["SCANNER", "__version__"]
