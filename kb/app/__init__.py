"""The web service: :func:`kb.app.factory.create_app` builds the FastAPI app around a :class:`kb.app.service.KBService`;
routes live in :mod:`kb.app.routes` (one module per resource), the pages' files in ``kb/app/static``."""
