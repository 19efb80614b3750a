"""MLflow tracking: one run per pipeline job, nested under a sweep's parent run in a multirun.

- :mod:`~soulchat.tracking.tracker`: the run wrapper (explicit run ids, redaction, error capture);
- :mod:`~soulchat.tracking.job`: opening a job's run with its tags, params and config;
- :mod:`~soulchat.tracking.sweep`: the Hydra callback (parent run per multirun) and task wrapper;
- :mod:`~soulchat.tracking.redact`: secrets never leave the process;
- :mod:`~soulchat.tracking.ui` / :mod:`~soulchat.tracking.compare`: ``soulchat ui`` / ``compare``.
"""

from soulchat.tracking.job import open_job_run
from soulchat.tracking.sweep import task_wrapper
from soulchat.tracking.tracker import NullTracker, Tracker, open_tracker

__all__ = ["NullTracker", "Tracker", "open_job_run", "open_tracker", "task_wrapper"]
