"""Scheduled work: the scheduler, auto-close, retention."""
