"""FastAPI app: API, public pages and staff dashboard (the web issue)."""
