"""kb: FAQ semantic search for a (Korean and multilingual) customer help center.

Importing kb is cheap: torch, faiss, fastapi and the model load only where they are used.
"""

from __future__ import annotations

__version__ = "0.1.0"
