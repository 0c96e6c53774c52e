"""Stakeholder registry, outbox and mail delivery (the stakeholders-and-mail issue)."""
