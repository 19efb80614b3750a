"""MLflow tracking: one run per pipeline job (nested under a sweep's parent run in a multirun)."""

from soulchat.tracking.tracker import NullTracker, Tracker, open_tracker

__all__ = ["NullTracker", "Tracker", "open_tracker"]
