"""Post-mortems (复盘): opened by the confirmed defeat of a lead that reached B or A (not of a lower one), written,
submitted, approved or sent back, shared in the library and under the talk track of their reason; the denials
(a consultant cannot approve, another store's manager gets a 404) and the queries of the lists."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from dealercrm.models import Notification
from defeats import postmortems, services
from defeats.models import PostMortem, Reason, TalkTrack
from leads.models import GradeChange
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/post-mortems/"


@pytest.fixture(autouse=True)
def _taxonomy(org):
    services.reasons_for(org.group.pk)


def _lost(org, *, grade="C", history=(), consultant=None, reasons=("lost_contact",)):
    """A lead of ``grade`` with a grade history through ``history``, filed as a defeat by its consultant and confirmed
    by the manager."""
    consultant = consultant or org.consultant
    lead = LeadFactory(store=org.store, assigned_to=consultant, grade=grade)
    at = timezone.now() - timedelta(days=60)
    previous = None
    for i, g in enumerate(history):
        GradeChange.objects.create(lead=lead, from_grade=previous, to_grade=g, changed_at=at + timedelta(days=i),
                                   changed_by=consultant)
        previous = g
    app = services.application_file(actor=consultant, lead=lead, kind="defeat", reasons=reasons)
    services.application_decide(actor=org.manager, application=app, verdict="confirm", comment="核实属实")
    return lead


def _written(pm, org, **kw):
    slow = Reason.objects.get(group=org.group, code="slow_follow_up")
    values = {"turned_at_grade": "A", "reasons": [slow], "what_happened": "报价后三天没有回访，客户去了竞品店试驾",
              "lessons": "报价当天晚上必须回电，约第二次到店试驾"}
    values.update(kw)
    return postmortems.post_mortem_save(actor=pm.consultant, post_mortem=pm, **values)


def test_the_defeat_of_a_lead_that_reached_a_opens_a_post_mortem_for_its_consultant(org):
    # The lead climbed to A and fell back to C before it was lost: its highest grade is A.
    lead = _lost(org, grade="C", history=("E", "C", "B", "A", "C"))
    pm = PostMortem.objects.get(lead=lead)
    assert (pm.consultant, pm.status, pm.outcome, pm.highest_grade) == (org.consultant, "draft", "lost", "A")
    assert pm.turned_at_grade == "C"  # the grade it was lost at, the consultant may change it
    assert [r.code for r in pm.reasons.all()] == ["lost_contact"]  # the application's reasons to start from
    note = Notification.objects.get(recipient=org.consultant, kind="postmortem_opened")
    assert note.url == f"/defeats/post-mortems/{pm.pk}/"


def test_a_b_lead_opens_one_but_a_d_lead_or_a_c_lead_does_not(org):
    assert PostMortem.objects.filter(lead=_lost(org, grade="B")).exists()
    assert not PostMortem.objects.filter(lead=_lost(org, grade="D", history=("E", "D"))).exists()
    assert not PostMortem.objects.filter(lead=_lost(org, grade="C", history=("E", "D", "C"))).exists()


def test_one_post_mortem_per_lead_whoever_opens_it_again(org):
    lead = _lost(org, grade="A")
    first = PostMortem.objects.get(lead=lead)
    again = postmortems.post_mortem_open(actor=org.manager, lead=lead)
    assert again.pk == first.pk and PostMortem.objects.filter(lead=lead).count() == 1


def test_a_won_lead_is_reviewed_by_hand_from_the_lead_page(org):
    from baseclients.tests.factories import buy

    deal = buy(store=org.store, consultant=org.consultant, phone="+8613900001111", name="批售客户")
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(org.manager)
    page = client.get(f"/leads/{deal.lead_id}/")
    assert b'id="postmortem-open"' in page.content
    response = client.post(f"/defeats/leads/{deal.lead_id}/post-mortem/")
    pm = PostMortem.objects.get(lead_id=deal.lead_id)
    assert response.status_code == 302 and response["Location"] == f"/defeats/post-mortems/{pm.pk}/"
    assert (pm.outcome, pm.consultant, pm.opened_by) == ("won", org.consultant, org.manager)
    assert Notification.objects.filter(recipient=org.consultant, kind="postmortem_opened").exists()
    # An active lead is no case to review: no button, and the service refuses.
    active = LeadFactory(store=org.store, assigned_to=org.consultant)
    assert b'id="postmortem-open"' not in client.get(f"/leads/{active.pk}/").content
    assert client.post(f"/defeats/leads/{active.pk}/post-mortem/").status_code == 302
    assert not PostMortem.objects.filter(lead=active).exists()


def test_approved_it_shows_under_the_talk_track_of_its_reason(org):
    slow = Reason.objects.get(group=org.group, code="slow_follow_up")
    price = Reason.objects.get(group=org.group, code="price_high")
    TalkTrack.objects.create(group=org.group, reason=slow, fact="我们24小时内回访", problem="别家拖着不回",
                             viewpoint="服务快是我们的优势")
    TalkTrack.objects.create(group=org.group, reason=price, fact="f", problem="p", viewpoint="v")
    pm = PostMortem.objects.get(lead=_lost(org, grade="A"))
    _written(pm, org)
    postmortems.post_mortem_submit(actor=org.consultant, post_mortem=pm)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(org.manager)
    lesson = "报价当天晚上必须回电".encode()
    assert lesson not in client.get("/defeats/talk-tracks/").content  # submitted, not approved: not shared yet
    postmortems.post_mortem_approve(actor=org.manager, post_mortem=pm)
    page = client.get("/defeats/talk-tracks/").content.decode()
    assert "Lessons from lost customers with this reason (1)" in page
    assert page.count("报价当天晚上必须回电") == 1  # under the slow follow-up track only, not under the price one
    assert f"/defeats/post-mortems/?reason={slow.pk}" in page
    # The library filtered by that reason lists it; by another reason it does not.
    assert lesson in client.get(f"/defeats/post-mortems/?reason={slow.pk}").content
    assert lesson not in client.get(f"/defeats/post-mortems/?reason={price.pk}").content


def test_submit_approve_and_return_flow_with_notifications(org, api_as):
    pm = PostMortem.objects.get(lead=_lost(org, grade="A"))
    consultant, manager = api_as(org.consultant), api_as(org.manager)
    # Submitting an empty one names what is missing.
    r = consultant.post(f"{URL}{pm.pk}/submit/", {}, format="json")
    assert r.status_code == 400 and {"what_happened", "lessons"} <= set(r.json())
    slow = Reason.objects.get(group=org.group, code="slow_follow_up")
    r = consultant.patch(f"{URL}{pm.pk}/", {"what_happened": "没及时回访", "lessons": "当天回电",
                                            "reasons": [slow.pk], "turned_at_grade": "A", "version": pm.version},
                         format="json")
    assert r.status_code == 200 and r.json()["reasons"] == [slow.pk]
    assert consultant.post(f"{URL}{pm.pk}/submit/", {}, format="json").status_code == 200
    assert Notification.objects.filter(recipient=org.manager, kind="postmortem_submitted").exists()
    # Submitted: the consultant can no longer edit it.
    assert consultant.patch(f"{URL}{pm.pk}/", {"lessons": "x"}, format="json").status_code == 400
    # Sent back without a comment: 400; with one: returned, the consultant notified, editable again.
    assert manager.post(f"{URL}{pm.pk}/return/", {}, format="json").status_code == 400
    r = manager.post(f"{URL}{pm.pk}/return/", {"comment": "写清楚客户在哪一步犹豫"}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "returned"
    assert Notification.objects.filter(recipient=org.consultant, kind="postmortem_returned").exists()
    assert consultant.patch(f"{URL}{pm.pk}/", {"lessons": "报价当天回电，第三天约试驾"},
                            format="json").status_code == 200
    assert consultant.post(f"{URL}{pm.pk}/submit/", {}, format="json").status_code == 200
    r = manager.post(f"{URL}{pm.pk}/approve/", {"comment": "好"}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "approved"
    assert Notification.objects.filter(recipient=org.consultant, kind="postmortem_approved").exists()
    # A stale version is a 409.
    assert consultant.patch(f"{URL}{pm.pk}/", {"lessons": "y", "version": 1}, format="json").status_code == 409


def test_denials(org, api_as):
    pm = PostMortem.objects.get(lead=_lost(org, grade="A"))
    _written(pm, org)
    postmortems.post_mortem_submit(actor=org.consultant, post_mortem=pm)
    # The consultant cannot approve his own.
    assert api_as(org.consultant).post(f"{URL}{pm.pk}/approve/", {}, format="json").status_code == 403
    # A colleague cannot read a draft or a submitted one, another store's manager and another group's admin nothing.
    for outsider in (org.consultant2, org.manager2, org.other_admin, org.other_manager):
        client = api_as(outsider)
        assert client.get(f"{URL}{pm.pk}/").status_code == 404
        assert client.post(f"{URL}{pm.pk}/approve/", {}, format="json").status_code == 404
        assert pm.pk not in [row["id"] for row in client.get(URL).json()["results"]]
    # The group's admin reviews it; the sister store's manager does not even see it.
    assert api_as(org.admin).get(f"{URL}{pm.pk}/").status_code == 200
    postmortems.post_mortem_approve(actor=org.manager, post_mortem=pm)
    # Approved: the colleague in the store reads it, the sister store's consultant still does not.
    assert api_as(org.consultant2).get(f"{URL}{pm.pk}/").status_code == 200
    assert api_as(org.consultant_b).get(f"{URL}{pm.pk}/").status_code == 404
    # The colleague cannot write it; a page POST by him is refused without a change.
    assert api_as(org.consultant2).patch(f"{URL}{pm.pk}/", {"lessons": "x"}, format="json").status_code == 403
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(org.manager2)
    assert client.get(f"/defeats/post-mortems/{pm.pk}/").status_code == 404


def test_opening_by_hand_needs_the_lead_in_scope(org, api_as):
    lead = _lost(org, grade="C")  # too low to open by itself
    assert not PostMortem.objects.filter(lead=lead).exists()
    assert api_as(org.consultant2).post(URL, {"lead": lead.pk}, format="json").status_code == 404
    assert api_as(org.manager2).post(URL, {"lead": lead.pk}, format="json").status_code == 404
    r = api_as(org.consultant).post(URL, {"lead": lead.pk}, format="json")
    assert r.status_code == 201 and r.json()["highest_grade"] == "C"
    assert api_as(org.manager).post(URL, {"lead": lead.pk}, format="json").status_code == 200


def test_library_filters(org, api_as):
    from dealercrm.tests.factories import VehicleBrandFactory, VehicleSeriesFactory

    rival = VehicleSeriesFactory(brand=VehicleBrandFactory(name="长城T", name_en="Great Wall T", is_own=False),
                                 name="风骏T", name_en="Wingle T")
    price = Reason.objects.get(group=org.group, code="price_high")
    one = PostMortem.objects.get(lead=_lost(org, grade="A"))
    _written(one, org, competitor_series=rival, lessons="竞品试驾后要当天约我们的试驾")
    two = PostMortem.objects.get(lead=_lost(org, grade="B"))
    _written(two, org, reasons=[price], turned_at_grade="B", lessons="价格谈判前先讲清配置差异")
    for pm in (one, two):
        postmortems.post_mortem_submit(actor=org.consultant, post_mortem=pm)
        postmortems.post_mortem_approve(actor=org.manager, post_mortem=pm)
    client = api_as(org.consultant2)

    def ids(**params):
        return {row["id"] for row in client.get(URL, params).json()["results"]}

    assert ids() == {one.pk, two.pk}
    assert ids(reason=price.pk) == {two.pk}
    assert ids(reason=price.parent_id) == {two.pk}  # the category "product/price"
    assert ids(competitor=rival.brand_id) == {one.pk}
    assert ids(series=rival.pk) == {one.pk}
    assert ids(grade="B") == {two.pk}
    assert ids(q="配置差异") == {two.pk}
    assert ids(status="draft") == set()
    assert client.get(URL, {"grade": "Z"}).status_code == 400


def test_lists_run_a_fixed_number_of_queries(org, api_as, django_assert_max_num_queries):
    for _ in range(4):
        pm = PostMortem.objects.get(lead=_lost(org, grade="A"))
        _written(pm, org)
        postmortems.post_mortem_submit(actor=org.consultant, post_mortem=pm)
        postmortems.post_mortem_approve(actor=org.manager, post_mortem=pm)
    client = api_as(org.consultant2)
    with django_assert_max_num_queries(8):
        assert len(client.get(URL).json()["results"]) == 4
    page = Client(HTTP_ACCEPT_LANGUAGE="en")
    page.force_login(org.consultant2)
    with django_assert_max_num_queries(16):
        assert page.get("/defeats/post-mortems/").status_code == 200
