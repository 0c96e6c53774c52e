"""Prefect flows: the tick and the compile step (the clock issue)."""
