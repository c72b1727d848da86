"""papersift.web: the FastAPI app (``create_app``) behind ``papersift serve``."""

from .app import create_app

__all__ = ["create_app"]
