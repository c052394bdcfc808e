import pytest


@pytest.fixture(autouse=True)
def _eager_celery(tasks_in_process):
    """The base clients' tasks (re-tier, care planning) run in-process in these tests."""
