"""The events pages: create, build the guest list with its live count, answers on the guests' list, the door list
on a phone (search within the masking rule, tap arrived, a walk-in), the results, the workbooks and the monthly
pack's section; another store's event is a 404."""

import io
from datetime import date

import openpyxl
import pytest
from django.utils import timezone

from campaigns import services
from campaigns.models import Event, Invitation
from dealercrm.tests.clients import HTMX
from reports.selectors import ReportParams, monthly_pack

pytestmark = pytest.mark.django_db


def _event(w):
    event = services.event_create(actor=w.org.manager, store=w.org.store, kind="club", title="客户联谊会",
                                  held_on=timezone.localdate(), place="会所")
    services.invite(actor=w.org.manager, event=event, tiers=["premium"], pool_lists=["competitor"])
    return event


def test_a_manager_creates_an_event_and_builds_its_guest_list(world, client):
    client.force_login(world.org.manager)
    assert client.get("/events/new/").status_code == 200
    r = client.post("/events/new/", {"kind": "launch", "title": "新品上市", "held_on": "2026-12-20", "place": "展厅"})
    event = Event.objects.get(title="新品上市")
    assert r.status_code == 302 and r["Location"] == f"/events/{event.pk}/targets/"
    page = client.get(f"/events/{event.pk}/targets/").content.decode()
    assert "浦东新区" in page and "物流" in page  # the group's lists
    count = client.post(f"/events/{event.pk}/targets/count/", {"tiers": ["premium"], "pool_lists": ["competitor"]},
                        **HTMX).content.decode()
    assert "3" in count and "2 base clients, 1 lost customers" in count
    r = client.post(f"/events/{event.pk}/targets/", {"tiers": ["premium"], "pool_lists": ["competitor"]})
    assert r.status_code == 302 and Invitation.objects.filter(event=event).count() == 3
    r = client.post(f"/events/{event.pk}/targets/", {})
    assert r.status_code == 200 and "Choose whom to invite." in r.content.decode()
    bad = client.post("/events/new/", {"kind": "club", "title": "", "held_on": "soon", "place": ""})
    assert bad.status_code == 200 and "This field is required." in bad.content.decode()


def test_consultants_answer_for_their_own_guests(world, client):
    event = _event(world)
    client.force_login(world.org.consultant)
    page = client.get(f"/events/{event.pk}/").content.decode()
    assert "张总" in page and "李总" not in page  # "mine" first
    page = client.get(f"/events/{event.pk}/?show=all").content.decode()
    p1 = Invitation.objects.get(event=event, client=world.p1)
    p2 = Invitation.objects.get(event=event, client=world.p2)
    assert f"/invitations/{p1.pk}/answer/" in page and f"/invitations/{p2.pk}/answer/" not in page
    assert "139****0002" in page and "139 0000 0002" not in page
    r = client.post(f"/events/{event.pk}/invitations/{p1.pk}/answer/", {"answer": "accepted"}, **HTMX)
    assert r.status_code == 200 and "btn-primary" in r.content.decode()
    assert client.post(f"/events/{event.pk}/invitations/{p2.pk}/answer/", {"answer": "accepted"}).status_code == 403
    assert client.get(f"/events/{event.pk}/targets/").status_code == 403


def test_the_door_list_searches_within_the_masking_rule(world, client):
    event = _event(world)
    client.force_login(world.org.consultant)
    p2 = Invitation.objects.get(event=event, client=world.p2)

    def search(q):
        return client.post(f"/events/{event.pk}/door/", {"q": q}, **HTMX).content.decode()

    assert "李总" in search("李")  # by name
    assert "李总" not in search("0002")  # a colleague's guest's digits find nothing
    assert "李总" in search("13900000002") and "139****0002" in search("13900000002")  # the whole number does
    assert "张总" in search("0001")  # the consultant's own guest by its last digits
    r = client.post(f"/events/{event.pk}/door/{p2.pk}/", {"arrived": "1"}, **HTMX)
    assert r.status_code == 200 and "Undo" in r.content.decode()
    assert Invitation.objects.get(pk=p2.pk).arrived_at is not None
    r = client.post(f"/events/{event.pk}/door/walk-in/", {"name": "刘先生", "phone": "13900000009"})
    assert r.status_code == 302 and Invitation.objects.filter(event=event, walk_in=True).count() == 1
    r = client.post(f"/events/{event.pk}/door/walk-in/", {"name": "钱", "phone": "12"}, follow=True)
    assert "Enter a valid phone number." in r.content.decode()


def test_results_pages_workbooks_and_the_pack(world, client):
    event = _event(world)
    services.attendance_set(actor=world.org.consultant, invitation=Invitation.objects.get(event=event,
                                                                                          client=world.p1))
    client.force_login(world.org.manager)
    assert "What the event brought" in client.get(f"/events/{event.pk}/results/").content.decode()
    year = event.held_on.year
    page = client.get(f"/events/results/?year={year}").content.decode()
    assert "Customer club gathering" in page
    book = openpyxl.load_workbook(io.BytesIO(client.get(f"/reports/events/{event.pk}.xlsx").content))
    guests = book.worksheets[1]
    rows = list(guests.iter_rows(values_only=True))
    assert rows[0][:2] == ("Name", "Phone") and len(rows) == 4  # header + 3 guests
    assert any(r[0] == "张总" and r[6] for r in rows[1:])  # arrived at
    results = list(book.worksheets[2].iter_rows(values_only=True))
    assert results[1][:3] == (3, 0, 1)  # invited, accepted, came
    book = openpyxl.load_workbook(io.BytesIO(client.get(f"/reports/events/by-kind.xlsx?year={year}").content))
    kinds = list(book.worksheets[1].iter_rows(values_only=True))
    assert kinds[1][:4] == ("Customer club gathering", 1, 3, 0)
    start = timezone.localdate().replace(day=1)
    sections = monthly_pack(ReportParams(user=world.org.manager, start=start, end=timezone.localdate(),
                                         stores=[world.org.store]))
    events = next(s for s in sections if s.key == "events")
    assert events.tables[0].rows[0]["title"] == "客户联谊会" and events.tables[0].rows[0]["attended"] == 1
    assert any(s.key == "repurchase" for s in sections)


def test_another_stores_event_pages_are_404(world, client):
    event = _event(world)
    p1 = Invitation.objects.get(event=event, client=world.p1)
    for user in (world.org.consultant_b, world.org.manager2, world.org.other_admin):
        client.force_login(user)
        for path in (f"/events/{event.pk}/", f"/events/{event.pk}/door/", f"/events/{event.pk}/results/",
                     f"/events/{event.pk}/targets/", f"/reports/events/{event.pk}.xlsx"):
            assert client.get(path).status_code == 404, (user, path)
        assert client.post(f"/events/{event.pk}/door/{p1.pk}/", {"arrived": "1"}).status_code == 404
        assert "客户联谊会" not in client.get(f"/events/?year={event.held_on.year}").content.decode()
    assert Invitation.objects.get(pk=p1.pk).arrived_at is None


def test_the_year_list_groups_by_month(world, client):
    services.event_create(actor=world.org.manager, store=world.org.store, kind="roadshow", title="巡展·奉贤",
                          held_on=date(2026, 3, 8), place="奉贤")
    client.force_login(world.org.consultant)
    page = client.get("/events/?year=2026").content.decode()
    assert "2026-03" in page and "巡展·奉贤" in page and "New event" not in page
