"""The funnel's hand-built October cohort (funnel/tests/conftest.py) serves the reports' figure tests too."""

import pytest

from funnel.tests.conftest import cohort, frozen  # noqa: F401


@pytest.fixture(autouse=True)
def _tasks_in_process(tasks_in_process):
    """The reports' tasks run in-process in these tests (as in the embedded default), whatever REDIS_URL says."""
