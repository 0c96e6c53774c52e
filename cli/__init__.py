"""The `consult` command."""
