"""The store manager's pages: allocation (control point 4), follow-up review (control point 5), merging duplicates.
Who may open them, what they show, and that every write goes through the service and nothing else changes."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dealercrm.tests.clients import HTMX, client_for
from dealercrm.tests.factories import ConsultantFactory
from leads.models import AssignmentChange, Deal, FollowUp, Lead, ReviewStatus, Status, Visit

from .factories import FollowUpFactory, LeadFactory, VisitFactory

pytestmark = pytest.mark.django_db


def overdue():
    return timezone.now() - timedelta(days=2)


# --- access --------------------------------------------------------------------------------------------------------


def manager_urls(lead, follow_up):
    return [
        reverse("leads:allocation"),
        reverse("leads:round_robin"),
        reverse("leads:bulk_move"),
        reverse("leads:assign", args=[lead.pk]),
        reverse("leads:reviews"),
        reverse("leads:review", args=[follow_up.pk]),
        reverse("leads:merge"),
    ]


@pytest.mark.parametrize("method", ["get", "post"])
def test_consultant_gets_403_on_every_manager_page(org, method):
    # Even on their own lead and their own follow-up.
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    follow_up = FollowUpFactory(lead=lead)
    client = client_for(org.consultant)
    for url in manager_urls(lead, follow_up):
        data = {"store": org.store.pk, "to_user": org.consultant2.pk, "from_user": org.consultant.pk,
                "decision": "approve", "keep": lead.pk, "absorb": lead.pk, "confirm": "True"}
        response = getattr(client, method)(url, data)
        assert response.status_code == 403, url
    follow_up.refresh_from_db()
    lead.refresh_from_db()
    assert follow_up.review_status == ReviewStatus.PENDING
    assert lead.assigned_to == org.consultant
    assert not AssignmentChange.objects.exists()


def test_anonymous_is_sent_to_login(org):
    response = Client().get(reverse("leads:allocation"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("who", ["manager", "admin"])
def test_manager_and_group_admin_open_every_page(org, who):
    client = client_for(getattr(org, who))
    for name in ("leads:allocation", "leads:reviews", "leads:merge", "leads:bulk_move"):
        assert client.get(reverse(name)).status_code == 200, name
    follow_up = FollowUpFactory(lead=LeadFactory(store=org.store, assigned_to=org.consultant))
    assert client.get(reverse("leads:assign", args=[follow_up.lead_id])).status_code == 200
    assert client.get(reverse("leads:review", args=[follow_up.pk])).status_code == 200


@pytest.mark.parametrize("who", ["manager2", "other_manager", "other_admin"])
def test_assign_a_lead_of_another_store_is_404(org, who):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    client = client_for(getattr(org, who))
    url = reverse("leads:assign", args=[lead.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"to_user": org.consultant2.pk}).status_code == 404
    lead.refresh_from_db()
    assert lead.assigned_to == org.consultant
    assert not AssignmentChange.objects.exists()


def test_manager_cannot_pick_another_store(org):
    client = client_for(org.manager)
    assert client.get(reverse("leads:allocation"), {"store": org.store2.pk}).status_code == 404
    LeadFactory(store=org.store2, assigned_to=None)
    assert client.post(reverse("leads:round_robin"), {"store": org.store2.pk}).status_code == 404
    assert Lead.objects.filter(store=org.store2, assigned_to__isnull=True).count() == 1


# --- allocation ----------------------------------------------------------------------------------------------------


def test_each_reassign_select_offers_everyone_but_the_holder(org):
    held = [LeadFactory(store=org.store, assigned_to=org.consultant) for _ in range(2)]
    unheld = [LeadFactory(store=org.store, assigned_to=None) for _ in range(2)]

    def offered(text, lead):
        select = re.search(rf'<select id="assign-{lead.pk}".*?</select>', text, re.S).group(0)
        return set(map(int, re.findall(r'<option value="(\d+)">', select)))

    text = client_for(org.manager).get(reverse("leads:allocation"), {"consultant": org.consultant.pk}).content.decode()
    for lead in held:  # one consultant's drill-down: the others, not the holder
        assert org.consultant2.pk in offered(text, lead) and org.consultant.pk not in offered(text, lead)
    for lead in unheld:  # the unassigned list: everyone
        assert {org.consultant.pk, org.consultant2.pk} <= offered(text, lead)


def test_allocation_matrix_numbers(org):
    c1, c2 = org.consultant, org.consultant2
    for grade in ("A", "A", "C"):
        LeadFactory(store=org.store, assigned_to=c1, grade=grade)
    LeadFactory(store=org.store, assigned_to=c1, grade=None, next_follow_up_at=overdue())
    LeadFactory(store=org.store, assigned_to=c1, grade="C", next_follow_up_at=overdue())
    LeadFactory(store=org.store, assigned_to=c1, grade="A", status=Status.WON)  # closed: not held any more
    LeadFactory(store=org.store, assigned_to=c2, grade="B")
    for _ in range(3):
        LeadFactory(store=org.store, assigned_to=c2, grade="E")
    LeadFactory(store=org.store, assigned_to=None, grade="D", next_follow_up_at=overdue())
    LeadFactory(store=org.store2, assigned_to=org.consultant_b, grade="A")  # another store

    response = client_for(org.manager).get(reverse("leads:allocation"))

    assert response.status_code == 200
    rows = {row.consultant.username: row for row in response.context["rows"]}
    assert set(rows) == {"c_north", "c2_north"}
    assert rows["c_north"].grades == {"A": 2, "B": 0, "C": 2, "D": 0, "E": 0}
    assert (rows["c_north"].ungraded, rows["c_north"].active, rows["c_north"].overdue) == (1, 5, 2)
    assert rows["c2_north"].grades == {"A": 0, "B": 1, "C": 0, "D": 0, "E": 3}
    assert (rows["c2_north"].ungraded, rows["c2_north"].active, rows["c2_north"].overdue) == (0, 4, 0)
    totals = response.context["store_totals"]
    assert totals == {"grades": {"A": 2, "B": 1, "C": 2, "D": 1, "E": 3}, "ungraded": 1, "active": 10, "overdue": 3}
    assert response.context["unassigned"]["active"] == 1
    assert rows["c_north"].is_heaviest and rows["c2_north"].is_lightest
    assert "Alpha South" not in response.content.decode()


def test_group_admin_picks_a_store_default_the_first(org):
    LeadFactory(store=org.store2, assigned_to=org.consultant_b, grade="B")
    client = client_for(org.admin)
    response = client.get(reverse("leads:allocation"))
    assert response.context["store"] == org.store  # "Alpha North" sorts first
    response = client.get(reverse("leads:allocation"), {"store": org.store2.pk})
    assert [row.consultant for row in response.context["rows"]] == [org.consultant_b]
    assert client.get(reverse("leads:allocation"), {"store": org.other_store.pk}).status_code == 404


def test_drilldown_lists_a_consultants_leads_as_a_partial(org):
    mine = LeadFactory(store=org.store, assigned_to=org.consultant, name="王先生")
    LeadFactory(store=org.store, assigned_to=org.consultant2, name="李女士")
    response = client_for(org.manager).get(
        reverse("leads:allocation"), {"store": org.store.pk, "consultant": org.consultant.pk},
        HTTP_HX_TARGET="mgr-drilldown", **HTMX,
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert mine.name in body and "李女士" not in body
    assert reverse("leads:assign", args=[mine.pk]) in body


def test_round_robin_assigns_the_unassigned_evenly(org):
    leads = [LeadFactory(store=org.store, assigned_to=None) for _ in range(4)]
    LeadFactory(store=org.store2, assigned_to=None)  # another store: untouched

    response = client_for(org.manager).post(reverse("leads:round_robin"), {"store": org.store.pk}, follow=True)

    assert response.status_code == 200
    assert "4 unassigned leads were shared out" in response.content.decode()
    holders = [Lead.objects.get(pk=lead.pk).assigned_to for lead in leads]
    assert holders.count(org.consultant) == 2 and holders.count(org.consultant2) == 2
    assert AssignmentChange.objects.filter(lead__in=leads, from_user=None, changed_by=org.manager).count() == 4
    assert Lead.objects.filter(store=org.store2, assigned_to__isnull=True).count() == 1


def test_round_robin_with_nothing_to_do_says_so(org):
    response = client_for(org.manager).post(reverse("leads:round_robin"), {"store": org.store.pk}, follow=True)
    assert "no unassigned leads" in response.content.decode()


def test_bulk_move_of_a_deactivated_consultant_moves_all_their_leads_and_no_others(org):
    leaving = org.consultant
    theirs = [LeadFactory(store=org.store, assigned_to=leaving) for _ in range(3)]
    won = LeadFactory(store=org.store, assigned_to=leaving, status=Status.WON)
    others = [LeadFactory(store=org.store, assigned_to=org.consultant2) for _ in range(2)]
    third = ConsultantFactory(username="c3_north", store=org.store)
    third_lead = LeadFactory(store=org.store, assigned_to=third)
    leaving.is_active = False
    leaving.save()
    client = client_for(org.manager)

    # The departing consultant still appears, so their leads can be moved.
    page = client.get(reverse("leads:allocation"))
    assert leaving in [row.consultant for row in page.context["rows"]]
    assert leaving in page.context["bulk_form"].fields["from_user"].queryset

    data = {"store": org.store.pk, "from_user": leaving.pk, "to_user": org.consultant2.pk}
    confirm = client.post(reverse("leads:bulk_move"), data)
    assert confirm.status_code == 200
    assert confirm.context["count"] == 3
    assert Lead.objects.filter(assigned_to=leaving, status=Status.ACTIVE).count() == 3  # nothing moved yet

    response = client.post(reverse("leads:bulk_move"), {**data, "confirm": "True"})
    assert response.status_code == 302
    assert all(Lead.objects.get(pk=lead.pk).assigned_to == org.consultant2 for lead in theirs)
    assert Lead.objects.get(pk=won.pk).assigned_to == leaving  # a closed sale stays with whoever made it
    assert all(Lead.objects.get(pk=lead.pk).assigned_to == org.consultant2 for lead in others)
    assert Lead.objects.get(pk=third_lead.pk).assigned_to == third
    assert AssignmentChange.objects.filter(from_user=leaving, to_user=org.consultant2).count() == 3
    assert AssignmentChange.objects.count() == 3


def test_bulk_move_shared_out_round_robin(org):
    third = ConsultantFactory(username="c3_north", store=org.store)
    theirs = [LeadFactory(store=org.store, assigned_to=org.consultant) for _ in range(4)]
    client = client_for(org.manager)
    data = {"store": org.store.pk, "from_user": org.consultant.pk, "to_user": "", "confirm": "True"}
    assert client.post(reverse("leads:bulk_move"), data).status_code == 302
    holders = [Lead.objects.get(pk=lead.pk).assigned_to for lead in theirs]
    assert holders.count(org.consultant2) == 2 and holders.count(third) == 2


def test_bulk_move_bad_input_writes_nothing(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    client = client_for(org.manager)
    same = {"store": org.store.pk, "from_user": org.consultant.pk, "to_user": org.consultant.pk, "confirm": "True"}
    response = client.post(reverse("leads:bulk_move"), same)
    assert response.status_code == 200
    assert response.context["form"].errors["to_user"]
    foreign = {"store": org.store.pk, "from_user": org.consultant_b.pk, "to_user": "", "confirm": "True"}
    response = client.post(reverse("leads:bulk_move"), foreign)
    assert response.context["form"].errors["from_user"]
    lead.refresh_from_db()
    assert lead.assigned_to == org.consultant
    assert not AssignmentChange.objects.exists()


def test_assign_one_lead_returns_where_it_came_from_with_a_message(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    back = f"{reverse('leads:allocation')}?store={org.store.pk}&consultant={org.consultant.pk}"
    response = client_for(org.manager).post(
        reverse("leads:assign", args=[lead.pk]), {"to_user": org.consultant2.pk, "next": back}, follow=True
    )
    assert response.redirect_chain[-1][0] == back
    assert "is now with" in response.content.decode()
    lead.refresh_from_db()
    assert lead.assigned_to == org.consultant2
    change = AssignmentChange.objects.get(lead=lead)
    assert (change.from_user, change.to_user, change.changed_by) == (org.consultant, org.consultant2, org.manager)


def test_assign_via_htmx_replaces_the_row_and_refreshes_the_matrix(org):
    lead = LeadFactory(store=org.store, assigned_to=None)
    response = client_for(org.manager).post(reverse("leads:assign", args=[lead.pk]),
                                            {"to_user": org.consultant.pk}, **HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert response["HX-Trigger"] == "allocationChanged"
    assert f'id="lead-row-{lead.pk}"' in body and "mgr-row-done" in body
    assert 'hx-swap-oob="true"' in body and "is now with" in body
    assert Lead.objects.get(pk=lead.pk).assigned_to == org.consultant


@pytest.mark.parametrize("bad", ["", "999999", "other_store", "deactivated"])
def test_assign_bad_input_gives_errors_and_writes_nothing(org, bad):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    gone = ConsultantFactory(username="gone", store=org.store, is_active=False)
    value = {"other_store": org.consultant_b.pk, "deactivated": gone.pk}.get(bad, bad)
    client = client_for(org.manager)
    response = client.post(reverse("leads:assign", args=[lead.pk]), {"to_user": value})
    assert response.status_code == 200
    assert response.context["form"].errors["to_user"]
    htmx = client.post(reverse("leads:assign", args=[lead.pk]), {"to_user": value}, **HTMX)
    assert "invalid-feedback" in htmx.content.decode()
    lead.refresh_from_db()
    assert lead.assigned_to == org.consultant
    assert not AssignmentChange.objects.exists()


# --- reviews -------------------------------------------------------------------------------------------------------


def test_review_queue_lists_pending_oldest_first_and_filters_by_consultant(org):
    now = timezone.now()
    lead1 = LeadFactory(store=org.store, assigned_to=org.consultant, first_visit_at=now - timedelta(days=10))
    lead2 = LeadFactory(store=org.store, assigned_to=org.consultant2, first_visit_at=now - timedelta(days=10))
    newer = FollowUpFactory(lead=lead1, occurred_at=now - timedelta(days=1))
    older = FollowUpFactory(lead=lead2, occurred_at=now - timedelta(days=5))
    FollowUpFactory(lead=lead1, review_status=ReviewStatus.APPROVED)
    FollowUpFactory(lead=LeadFactory(store=org.store2, assigned_to=org.consultant_b))
    client = client_for(org.manager)

    response = client.get(reverse("leads:reviews"))
    assert [fu.pk for fu in response.context["page"]] == [older.pk, newer.pk]
    response = client.get(reverse("leads:reviews"), {"consultant": org.consultant.pk})
    assert [fu.pk for fu in response.context["page"]] == [newer.pk]


def test_review_queue_pages_at_twenty(org):
    lead = LeadFactory(store=org.store, assigned_to=org.consultant, first_visit_at=timezone.now() - timedelta(days=40))
    for day in range(25):
        FollowUpFactory(lead=lead, occurred_at=lead.first_visit_at + timedelta(days=day + 1))
    client = client_for(org.manager)
    first = client.get(reverse("leads:reviews"))
    assert len(first.context["page"]) == 20 and first.context["page"].paginator.count == 25
    assert len(client.get(reverse("leads:reviews"), {"page": 2}).context["page"]) == 5


def test_approve_via_htmx_returns_the_card_in_its_new_state(org):
    follow_up = FollowUpFactory(lead=LeadFactory(store=org.store, assigned_to=org.consultant))
    response = client_for(org.manager).post(reverse("leads:review", args=[follow_up.pk]),
                                            {"decision": "approve"}, **HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith("<article") and f'id="review-{follow_up.pk}"' in body
    assert "mgr-review-approved" in body
    follow_up.refresh_from_db()
    assert (follow_up.review_status, follow_up.reviewed_by) == (ReviewStatus.APPROVED, org.manager)


def test_reject_with_a_comment(org):
    follow_up = FollowUpFactory(lead=LeadFactory(store=org.store, assigned_to=org.consultant))
    response = client_for(org.manager).post(
        reverse("leads:review", args=[follow_up.pk]), {"decision": "reject", "comment": "没写客户的顾虑"}, **HTMX
    )
    assert "mgr-review-rejected" in response.content.decode()
    assert "没写客户的顾虑" in response.content.decode()
    follow_up.refresh_from_db()
    assert follow_up.review_status == ReviewStatus.REJECTED
    assert follow_up.review_comment == "没写客户的顾虑"


def test_reject_without_a_comment_shows_the_error_and_changes_nothing(org):
    follow_up = FollowUpFactory(lead=LeadFactory(store=org.store, assigned_to=org.consultant))
    client = client_for(org.manager)
    for extra in (HTMX, {}):
        response = client.post(reverse("leads:review", args=[follow_up.pk]),
                               {"decision": "reject", "comment": "   "}, **extra)
        assert response.status_code == 200
        assert "Say why the record is rejected." in response.content.decode()
    follow_up.refresh_from_db()
    assert follow_up.review_status == ReviewStatus.PENDING
    assert follow_up.reviewed_by is None


def test_review_without_htmx_redirects_to_the_queue(org):
    follow_up = FollowUpFactory(lead=LeadFactory(store=org.store, assigned_to=org.consultant))
    response = client_for(org.manager).post(reverse("leads:review", args=[follow_up.pk]),
                                            {"decision": "approve"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("leads:reviews")
    assert "approved" in response.content.decode()


def test_a_reviewed_record_cannot_be_reviewed_again(org):
    follow_up = FollowUpFactory(lead=LeadFactory(store=org.store, assigned_to=org.consultant),
                                review_status=ReviewStatus.APPROVED)
    response = client_for(org.manager).post(reverse("leads:review", args=[follow_up.pk]),
                                            {"decision": "reject", "comment": "late"}, **HTMX)
    assert "already been reviewed" in response.content.decode()
    follow_up.refresh_from_db()
    assert follow_up.review_status == ReviewStatus.APPROVED


@pytest.mark.parametrize("who", ["consultant", "manager2", "other_manager"])
def test_only_the_stores_manager_can_review(org, who):
    follow_up = FollowUpFactory(lead=LeadFactory(store=org.store, assigned_to=org.consultant))
    response = client_for(getattr(org, who)).post(reverse("leads:review", args=[follow_up.pk]),
                                                  {"decision": "approve"})
    assert response.status_code == (403 if who == "consultant" else 404)
    follow_up.refresh_from_db()
    assert follow_up.review_status == ReviewStatus.PENDING


# --- merge ---------------------------------------------------------------------------------------------------------


def test_merge_page_lists_duplicate_candidates_with_their_facts(org):
    now = timezone.now()
    a = LeadFactory(store=org.store, assigned_to=org.consultant, name="张伟", first_visit_at=now - timedelta(days=9))
    b = LeadFactory(store=org.store, assigned_to=org.consultant2, name="张伟", phone="",
                    first_visit_at=now - timedelta(days=3))
    VisitFactory(lead=a)
    VisitFactory(lead=a, is_first=False, arrived_at=now - timedelta(days=2))
    FollowUpFactory(lead=b)
    LeadFactory(store=org.store, name="李娜")
    response = client_for(org.manager).get(reverse("leads:merge"))
    [pair] = response.context["candidates"]
    assert (pair["a"].pk, pair["b"].pk) == (a.pk, b.pk)
    assert (pair["a"].visit_count, pair["a"].follow_up_count) == (2, 0)
    assert (pair["b"].visit_count, pair["b"].follow_up_count) == (0, 1)
    assert pair["keep"] == a  # the one with a phone is suggested
    assert pair["a"].phone_shown and pair["a"].phone_shown in response.content.decode()


def test_the_merge_pages_first_button_keeps_the_named_record(org):
    now = timezone.now()
    anonymous = LeadFactory(store=org.store, assigned_to=org.consultant, name="张伟", phone="",
                            first_visit_at=now - timedelta(days=9))
    named = LeadFactory(store=org.store, assigned_to=org.consultant, name="张伟", first_visit_at=now - timedelta(days=3))
    html = client_for(org.manager).get(reverse("leads:merge")).content.decode()
    footer = html[html.index('<div class="card-footer'):]
    buttons = re.findall(r'<a class="btn btn-sm ([^"]+)" href="\?keep=(\d+)&amp;absorb=(\d+)"', footer)
    assert buttons[0][1:] == (str(named.pk), str(anonymous.pk))  # first: keep the named record
    assert buttons[1][1:] == (str(anonymous.pk), str(named.pk)) and "btn-primary" not in buttons[1][0]


def test_merge_confirmation_then_merge_keeps_every_visit_and_follow_up(org):
    now = timezone.now()
    keep = LeadFactory(store=org.store, assigned_to=org.consultant, name="张伟", first_visit_at=now - timedelta(days=5),
                       grade=None)
    absorb = LeadFactory(store=org.store, assigned_to=org.consultant2, name="张伟", phone="",
                         first_visit_at=now - timedelta(days=9), grade="B")
    visits = [VisitFactory(lead=keep), VisitFactory(lead=absorb), VisitFactory(lead=absorb, is_first=False,
                                                                                arrived_at=now - timedelta(days=1))]
    follow_ups = [FollowUpFactory(lead=keep), FollowUpFactory(lead=absorb), FollowUpFactory(lead=absorb)]
    client = client_for(org.manager)

    confirm = client.get(reverse("leads:merge"), {"keep": keep.pk, "absorb": absorb.pk})
    body = confirm.content.decode()
    assert confirm.status_code == 200
    assert f"All visits, follow-ups and history of #{absorb.pk} move to #{keep.pk}" in body
    assert Lead.objects.get(pk=absorb.pk).status == Status.ACTIVE  # confirmation writes nothing

    response = client.post(reverse("leads:merge"), {"keep": keep.pk, "absorb": absorb.pk})

    assert response.status_code == 302
    assert response.url == reverse("leads:detail", args=[keep.pk])
    assert set(Visit.objects.filter(lead=keep).values_list("pk", flat=True)) == {v.pk for v in visits}
    assert set(FollowUp.objects.filter(lead=keep).values_list("pk", flat=True)) == {f.pk for f in follow_ups}
    absorb.refresh_from_db()
    keep.refresh_from_db()
    assert (absorb.status, absorb.merged_into) == (Status.MERGED, keep)
    assert keep.grade == "B" and keep.first_visit_at == absorb.first_visit_at


def test_merge_errors_are_shown_and_nothing_is_written(org):
    client = client_for(org.admin)  # sees both stores of the group
    a = LeadFactory(store=org.store, name="张伟")
    b = LeadFactory(store=org.store2, name="张伟", phone="")
    c = LeadFactory(store=org.store, name="王芳", status=Status.WON)
    d = LeadFactory(store=org.store, name="王芳", phone="", status=Status.WON)
    for lead in (c, d):
        Deal.objects.create(lead=lead, price=150000, ordered_at=timezone.localdate())
    VisitFactory(lead=b)
    cases = {
        (a.pk, a.pk): "Choose two different leads.",
        (a.pk, b.pk): "Only leads of the same store can be merged.",
        (c.pk, d.pk): "Both leads have a deal; they are different sales.",
        (a.pk, 999999): "There is no lead #999999 among your leads.",
    }
    for (keep, absorb), message in cases.items():
        for method in ("get", "post"):
            response = getattr(client, method)(reverse("leads:merge"), {"keep": keep, "absorb": absorb})
            assert response.status_code == 200, (keep, absorb, method)
            assert message in response.content.decode(), (keep, absorb, method)
    assert not Lead.objects.filter(status=Status.MERGED).exists()
    assert Visit.objects.get().lead_id == b.pk


def test_merge_a_lead_of_another_store_reads_as_not_found(org):
    mine = LeadFactory(store=org.store, name="张伟")
    theirs = LeadFactory(store=org.store2, name="张伟", phone="")
    response = client_for(org.manager).post(reverse("leads:merge"), {"keep": mine.pk, "absorb": theirs.pk})
    assert f"There is no lead #{theirs.pk} among your leads." in response.content.decode()
    assert Lead.objects.get(pk=theirs.pk).status == Status.ACTIVE


# --- query counts ----------------------------------------------------------------------------------------------------


def _grow_store(org, consultants: int, leads_each: int):
    people = [org.consultant, org.consultant2] + [
        ConsultantFactory(username=f"extra{i}", store=org.store) for i in range(consultants - 2)
    ]
    grades = ["A", "B", "C", "D", "E", None]
    for i, person in enumerate(people):
        for j in range(leads_each):
            LeadFactory(store=org.store, assigned_to=person, grade=grades[(i + j) % 6])
    for j in range(leads_each):
        LeadFactory(store=org.store, assigned_to=None, grade=grades[j % 6])
    people[-1].is_active = False
    people[-1].save()
    return people


@pytest.mark.parametrize("consultants,leads_each", [(2, 2), (10, 8)])
def test_allocation_page_query_count_is_bounded(org, django_assert_max_num_queries, consultants, leads_each):
    people = _grow_store(org, consultants, leads_each)
    client = client_for(org.manager)
    # Session, user, stores, matrix (the store in scope, its counts per holder, the people), unassigned grades +
    # overdue + list, drill-down (consultant, leads, count, assignees), the bulk form's two selects, the tab badge,
    # the navbar's store, the consultant levels' load and the handoffs waiting: the same for 2 or 10 consultants.
    with django_assert_max_num_queries(19):
        response = client.get(reverse("leads:allocation"), {"consultant": people[0].pk})
    assert response.status_code == 200
    assert len(response.context["rows"]) == consultants
    with django_assert_max_num_queries(8):
        partial = client.get(reverse("leads:allocation"), HTTP_HX_TARGET="mgr-matrix", **HTMX)
    assert partial.content.decode().lstrip().startswith('<div id="mgr-matrix"')


@pytest.mark.parametrize("count", [2, 30])
def test_review_page_query_count_is_bounded(org, django_assert_max_num_queries, count):
    people = _grow_store(org, 4, 2)
    leads = list(Lead.objects.filter(store=org.store, assigned_to__isnull=False))
    for i in range(count):
        FollowUpFactory(lead=leads[i % len(leads)], created_by=people[i % 3])
    client = client_for(org.manager)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("leads:reviews"))
    assert len(response.context["page"]) == min(count, 20)


@pytest.mark.parametrize("pairs", [1, 12])
def test_merge_page_query_count_is_bounded(org, django_assert_max_num_queries, pairs):
    for i in range(pairs):
        a = LeadFactory(store=org.store, name=f"客户{i}")
        b = LeadFactory(store=org.store, name=f"客户{i}", phone="")
        VisitFactory(lead=a)
        FollowUpFactory(lead=b)
    client = client_for(org.admin)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("leads:merge"))
    assert len(response.context["candidates"]) == pairs


def test_the_fleet_sales_manager_is_not_in_the_showroom_round_robin(org):
    """He works the competitor pool and the companies: holding few showroom leads, he would otherwise be handed every
    new walk-in, and the allocation page would call him the lightest-loaded consultant."""
    from leads.services.assignment import round_robin_next

    LeadFactory(store=org.store, assigned_to=org.consultant)
    org.consultant2.fleet_manager = True
    org.consultant2.save(update_fields=["fleet_manager"])
    assert round_robin_next(org.store) == org.consultant
    response = client_for(org.manager).get(reverse("leads:allocation"))
    assert [row.consultant for row in response.context["round_robin_queue"]] == [org.consultant]
    assert not any(row.is_lightest for row in response.context["rows"] if row.consultant == org.consultant2)
