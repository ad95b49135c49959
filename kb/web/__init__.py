"""The web faces of kb: the customer help-center page (``/``) and the agent view (``/agent``).

Plain HTML, CSS and JavaScript shipped inside the package (``kb/web/static``, pages in ``kb/web/static/templates``):
no build step, nothing loaded from elsewhere. ``router`` is included by :func:`kb.api.create_app`.
"""

from __future__ import annotations

from kb.web.routes import router

__all__ = ["router"]
