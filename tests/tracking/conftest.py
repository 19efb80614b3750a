"""Make ``tracking_support`` (this folder's helpers) importable under ``--import-mode=importlib``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
