"""Fixtures of the chat tests: ``trained`` and ``random_hf`` are in tests/conftest.py (shared with
the serve tests); this puts chat_support on the import path for the test modules."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
