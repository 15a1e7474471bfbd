"""Recorders of the training runs that figures read: `python scripts/runs/<topic>.py`."""
