"""The funnel's hand-built October cohort (funnel/tests/conftest.py) serves the reports' figure tests too."""

from funnel.tests.conftest import cohort, frozen  # noqa: F401
