"""Identities from the organisation's directory (issue 18)."""
