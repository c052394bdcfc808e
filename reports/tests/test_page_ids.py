"""The import page's column mapping goes through a form: a ``col_`` input that names no column of the file is a 400
with a message (the page again), never a server error, and the mapping is unchanged."""

import pytest

from dealercrm.tests.clients import client_for
from reports.models import ImportBatch, ImportKind

pytestmark = pytest.mark.django_db


@pytest.fixture
def batch(org):
    return ImportBatch.objects.create(store=org.store, kind=ImportKind.LEADS, created_by=org.manager,
                                      file_name="x.csv", content=b"", headers=["姓名", "电话"],
                                      status=ImportBatch.Status.DRY_RUN_READY, mapping={"0": "name", "1": "phone"})


@pytest.mark.parametrize("key", ["col_abc", "col_99", "col_-1"])
def test_a_mapping_of_a_column_the_file_has_not_is_a_400_with_a_message(org, batch, key):
    r = client_for(org.manager).post(f"/reports/imports/{batch.pk}/", {"col_0": "name", key: "phone"})
    assert r.status_code == 400
    assert "The file has no column" in r.content.decode()
    batch.refresh_from_db()
    assert batch.mapping == {"0": "name", "1": "phone"} and batch.status == ImportBatch.Status.DRY_RUN_READY


def test_a_good_mapping_is_still_taken(org, batch, tasks_in_process):
    r = client_for(org.manager).post(f"/reports/imports/{batch.pk}/", {"col_0": "name", "col_1": ""})
    assert r.status_code == 302
    batch.refresh_from_db()
    assert batch.mapping == {"0": "name"}
