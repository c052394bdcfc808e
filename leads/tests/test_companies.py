"""Company accounts: the credit code's check character, the company with its people written all or nothing, the
qualification of a company lead, and who sees which company."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation

from dealercrm.tests.factories import ConsultantFactory, SuperuserFactory
from leads import services
from leads.companies import (
    Company,
    CompanyPerson,
    Qualification,
    credit_code_check_char,
    validate_credit_code,
)
from leads.tests.factories import LeadFactory

# --- the check character (GB 32100-2015) -------------------------------------------------------------------------
# Values: 0-9 are 0-9, then A10 B11 C12 D13 E14 F15 G16 H17 J18 K19 L20 M21 N22 P23 Q24 R25 T26 U27 W28 X29 Y30.
# Weights 3^i mod 31: 1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28.
#
# 91350100M000100Y4 (the code printed on the standard's sample licence):
#   9·1 + 1·3 + 3·9 + 5·27 + 0·19 + 1·26 + 0·16 + 0·17 + M(21)·20 + 0·29 + 0·25 + 0·13 + 1·8 + 0·24 + 0·10
#   + Y(30)·30 + 4·28 = 9 + 3 + 27 + 135 + 26 + 420 + 8 + 900 + 112 = 1640; 1640 = 52·31 + 28; 31 − 28 = 3 → "3".
# 12100000400000012 (a public institution, category 1 type 2):
#   1·1 + 2·3 + 1·9 + 4·20 + 1·30 + 2·28 = 1 + 6 + 9 + 80 + 30 + 56 = 182; 182 = 5·31 + 27; 31 − 27 = 4 → "4".
# 91110000600037341: 9·1 + 1·3 + 1·9 + 1·27 + 6·20 + 3·8 + 7·24 + 3·10 + 4·30 + 1·28 (the zeros left out)
#   = 9 + 3 + 9 + 27 + 120 + 24 + 168 + 30 + 120 + 28 = 538; 538 = 17·31 + 11; 31 − 11 = 20 → "L".
VALID = ["91350100M000100Y43", "121000004000000124", "91110000600037341L"]


@pytest.mark.parametrize("body, check", [("91350100M000100Y4", "3"), ("12100000400000012", "4"),
                                         ("91110000600037341", "L")])
def test_check_character_worked_by_hand(body, check):
    assert credit_code_check_char(body) == check


def test_the_weighted_sum_of_the_third_example_is_538():
    from leads.companies import CREDIT_CODE_CHARS, CREDIT_CODE_WEIGHTS

    body = "91110000600037341"
    # 9·1 + 1·3 + 1·9 + 1·27 + 0 + 0 + 0 + 0 + 6·20 + 0 + 0 + 0 + 3·8 + 7·24 + 3·10 + 4·30 + 1·28
    # = 9 + 3 + 9 + 27 + 120 + 24 + 168 + 30 + 120 + 28 = 538
    assert sum(CREDIT_CODE_CHARS.index(c) * w for c, w in zip(body, CREDIT_CODE_WEIGHTS)) == 538


def test_a_sum_divisible_by_31_has_check_character_zero():
    # 4·1 + 0·3 + 3·9 = 31; 31 mod 31 = 0; 31 − 0 = 31, written 0.
    assert credit_code_check_char("40300000000000000") == "0"


@pytest.mark.parametrize("code", VALID + ["91350100m000100y43", " 9135 0100 M000 100Y 43 "])
def test_valid_codes_pass(code):
    validate_credit_code(code)


@pytest.mark.parametrize("code, message", [
    ("91350100M000100Y44", "check character"),   # the last character off by one
    ("91350100M000100Y4", "18 characters"),      # one short
    ("91350100M000100I43", "no I"),              # I is not in the code's set (nor O, S, V, Z)
    ("121000004000000125", "check character"),
    ("91110000600037341M", "check character"),
])
def test_wrong_codes_are_refused_with_the_reason(code, message):
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        validate_credit_code(code)
    with translation.override("en"):
        assert message in exc.value.messages[0]


# --- the company and its people -------------------------------------------------------------------------------------

PEOPLE = [
    {"name": "王总", "title": "总经理", "phone": "138 0013 8000", "decision_role": "decider", "note": "看价格"},
    {"name": "李工", "title": "车队长", "phone": "", "decision_role": "influencer", "note": ""},
]


@pytest.mark.django_db
def test_a_consultant_adds_a_company_with_two_people(org):
    company = services.company_save(actor=org.consultant, name=" 顺丰速运 ", credit_code="91350100m000100y43",
                                    industry="物流", size="large", turnover=Decimal("1200000.00"), people=PEOPLE)
    company.refresh_from_db()
    assert (company.name, company.credit_code, company.owner, company.store, company.group) == (
        "顺丰速运", "91350100M000100Y43", org.consultant, org.store, org.group)
    people = list(company.people.order_by("sort_order"))
    assert [(p.name, p.phone, p.decision_role) for p in people] == [
        ("王总", "+8613800138000", "decider"), ("李工", "", "influencer")]


@pytest.mark.django_db
def test_a_bad_person_writes_nothing(org):
    bad = [*PEOPLE, {"name": "", "phone": "12", "decision_role": "boss"}]
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        services.company_save(actor=org.consultant, name="顺丰速运", people=bad)
    assert "Person 3" in exc.value.message_dict["people"][0]
    assert not Company.objects.exists() and not CompanyPerson.objects.exists()


@pytest.mark.django_db
def test_an_edit_with_a_bad_person_keeps_the_old_people(org):
    company = services.company_save(actor=org.consultant, name="顺丰速运", people=PEOPLE)
    with pytest.raises(ValidationError):
        services.company_save(actor=org.consultant, company=company, name="改名",
                              people=[{"name": "新人", "decision_role": "supporter", "phone": "not a phone"}])
    company.refresh_from_db()
    assert company.name == "顺丰速运" and company.people.count() == 2


@pytest.mark.django_db
def test_the_credit_code_is_unique_in_the_group_not_across_groups(org):
    services.company_save(actor=org.consultant, name="A", credit_code=VALID[0])
    with pytest.raises(ValidationError) as exc:
        services.company_save(actor=org.consultant_b, name="B", credit_code=VALID[0])  # the sister store
    assert "credit_code" in exc.value.message_dict
    other = ConsultantFactory(store=org.other_store)
    assert services.company_save(actor=other, name="C", credit_code=VALID[0]).pk


@pytest.mark.django_db
def test_who_edits_a_company(org):
    company = services.company_save(actor=org.consultant, name="A")
    services.company_save(actor=org.manager, company=company, name="B")
    with pytest.raises(PermissionDenied):
        services.company_save(actor=org.consultant2, company=company, name="C")
    org.consultant2.fleet_manager = True
    org.consultant2.save()
    services.company_save(actor=org.consultant2, company=company, name="D", owner=org.consultant2)
    company.refresh_from_db()
    assert (company.name, company.owner) == ("D", org.consultant2)
    with pytest.raises(PermissionDenied):
        services.company_save(actor=org.manager2, company=company, name="E")


# --- who sees which company -----------------------------------------------------------------------------------------


def _names(qs):
    return sorted(c.name for c in qs)


@pytest.mark.django_db
def test_company_scoping_per_role(org):
    own = services.company_save(actor=org.consultant, name="Own")
    colleague = services.company_save(actor=org.consultant2, name="Colleague")
    via_lead = services.company_save(actor=org.consultant2, name="ViaLead")
    LeadFactory(store=org.store, assigned_to=org.consultant, company=via_lead)
    sister = services.company_save(actor=org.consultant_b, name="Sister")
    other = services.company_save(actor=ConsultantFactory(store=org.other_store), name="Other")

    assert _names(Company.objects.visible_to(org.consultant)) == ["Own", "ViaLead"]
    assert _names(Company.objects.visible_to(org.manager)) == ["Colleague", "Own", "ViaLead"]
    assert _names(Company.objects.visible_to(org.admin)) == ["Colleague", "Own", "Sister", "ViaLead"]
    assert _names(Company.objects.visible_to(org.other_admin)) == ["Other"]
    assert _names(Company.objects.visible_to(SuperuserFactory())) == ["Colleague", "Other", "Own", "Sister",
                                                                      "ViaLead"]
    # The fleet sales manager sees his whole store, not the sister store.
    org.consultant2.fleet_manager = True
    org.consultant2.save()
    assert _names(Company.objects.visible_to(org.consultant2)) == ["Colleague", "Own", "ViaLead"]
    assert not Company.objects.visible_to(org.consultant2).filter(pk__in=[sister.pk, other.pk]).exists()
    # People follow their company.
    CompanyPerson.objects.create(company=colleague, name="P", decision_role="decider")
    assert not CompanyPerson.objects.visible_to(org.consultant).exists()
    assert CompanyPerson.objects.visible_to(org.manager).count() == 1
    assert own.pk


# --- qualification ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_qualifying_a_company_lead(org):
    company = services.company_save(actor=org.consultant, name="A")
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    with pytest.raises(ValidationError) as exc:
        services.lead_qualify(actor=org.consultant, lead=lead, need="yes")
    assert "company" in exc.value.message_dict
    services.lead_update(actor=org.consultant, lead=lead, company=company)
    q = services.lead_qualify(actor=org.consultant, lead=lead, need="yes", need_note="20 台轻卡", ability="unknown",
                              authority="no", authority_note="老板在外地")
    q.refresh_from_db()
    assert [(k, a, n) for k, _label, a, n in q.points] == [
        ("need", "yes", "20 台轻卡"), ("ability", "unknown", ""), ("willingness", "unknown", ""),
        ("authority", "no", "老板在外地")]
    with pytest.raises(ValidationError):
        services.lead_qualify(actor=org.consultant, lead=lead, need="maybe")
    with pytest.raises(PermissionDenied):
        services.lead_qualify(actor=org.consultant2, lead=lead, need="no")
    assert Qualification.objects.get(lead=lead).need == "yes"


@pytest.mark.django_db
def test_a_lead_names_a_company_of_its_own_store(org):
    sister = services.company_save(actor=org.consultant_b, name="Sister")
    lead = LeadFactory(store=org.store, assigned_to=org.consultant)
    with pytest.raises(ValidationError) as exc:
        services.lead_update(actor=org.consultant, lead=lead, company=sister)
    assert "company" in exc.value.message_dict
