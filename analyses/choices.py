"""The names `tdxray check` offers as option choices, importable without the check path.

analyses/formats maps each FORMAT_NAMES entry to its renderer (tests/test_startup_data_stack.py
checks the two agree); analyses/report reads FAIL_ON_LEVELS from here.
"""

from __future__ import annotations

FORMAT_NAMES = ("text", "json", "jsonl", "junit", "xunit", "sarif", "github", "markdown")
# Formats that point at source lines (the others need no event lookup).
WANT_LINES = frozenset({"text", "json", "jsonl", "junit", "xunit", "sarif", "github"})
FAIL_ON_LEVELS = ("fatal", "error", "warning")
