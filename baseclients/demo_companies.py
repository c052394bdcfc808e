"""Demo company accounts: the second demo store sells to companies. Its fleet sales manager (批售经理) looks after a
handful of company accounts with their people (决定者, 影响者, 支持者, 反对者), company leads with their qualification,
and base clients that buy for the companies (their vehicles are the companies' fleets). Through the services; skipped
when the store already has companies. (His competitor pool: defeats.demo.)"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from dealercrm.models import Role, Store, User, VehicleSeries
from leads.companies import credit_code_check_char
from leads.services import company_save, lead_qualify, visit_log

from .models import BaseClient, ClientKind
from .services import client_update

SEED = 20261207

# name, organisation-code part of the credit code (9 characters), industry, size, turnover (CNY), legal
# representative, people [(name, title, phone, role, note)], company leads [(name, phone, qualification)]
COMPANIES = [
    ("上海顺达物流有限公司", "MA1G8K2Q5", "物流运输", "medium", "86000000", "陈国栋", [
        ("陈国栋", "总经理", "13916021801", "decider", "只看总成本，要三年保养打包价"),
        ("刘师傅", "车队长", "13916021802", "influencer", "开过我们的车，认可油耗"),
        ("王会计", "财务经理", "13916021803", "supporter", "希望分期，首付三成"),
        ("赵经理", "采购经理", "13916021804", "opponent", "和竞品经销商关系好"),
    ], [("陈总（顺达物流）", "13916021801", {"need": "yes", "need_note": "明年换 12 台轻卡",
                                           "ability": "yes", "ability_note": "去年营收 8600 万",
                                           "willingness": "unknown", "willingness_note": "也在看竞品",
                                           "authority": "yes", "authority_note": "总经理本人"})]),
    ("上海鲜丰生鲜配送有限公司", "MA1H3N7W2", "生鲜配送", "small", "23000000", "周丽华", [
        ("周丽华", "董事长", "13916021811", "decider", "周末才有空"),
        ("孙主管", "配送主管", "13916021812", "influencer", "要冷藏厢，关心续航"),
    ], [("孙主管（鲜丰生鲜）", "13916021812", {"need": "yes", "need_note": "3 台冷藏车",
                                              "ability": "unknown", "authority": "no",
                                              "authority_note": "董事长拍板"})]),
    ("闵行区恒通建材有限公司", "MA1FQ4D86", "建材", "small", "15000000", "吴建平", [
        ("吴建平", "老板", "13916021821", "decider", ""),
        ("吴小军", "老板儿子", "13916021822", "supporter", "喜欢皮卡"),
    ], [("吴老板（恒通建材）", "13916021821", {"need": "yes", "need_note": "2 台皮卡拉货",
                                              "ability": "yes", "willingness": "yes",
                                              "willingness_note": "试驾后很满意", "authority": "yes"})]),
    ("上海瑞安物业管理有限公司", "MA1K9P3T0", "物业管理", "large", "210000000", "林志强", [
        ("林志强", "总经理", "13916021831", "decider", "集团统一招标"),
        ("郭主任", "行政主任", "13916021832", "influencer", "负责用车调度"),
        ("钱工", "安全主管", "13916021833", "opponent", "担心新能源安全"),
    ], []),
    ("上海联华装饰工程有限公司", "MA1J2R5X7", "装修工程", "micro", "6800000", "黄明", [
        ("黄明", "老板", "13916021841", "decider", "现金客户"),
    ], []),
]


@dataclass
class DemoCompanies:
    companies: int = 0
    people: int = 0
    leads: int = 0
    clients: int = 0
    skipped: bool = False


def credit_code(org_code: str) -> str:
    """A credit code of Shanghai's Minhang district (行政区划 310112) for a company (registration 9, type 1): the
    17 characters and their check character."""
    body = f"91310112{org_code}"
    return body + credit_code_check_char(body)


@transaction.atomic
def demo_companies_seed(*, stores: list[Store]) -> DemoCompanies:
    """Company accounts for the demo stores that have a fleet sales manager."""
    out = DemoCompanies()
    rng = random.Random(SEED)
    for store in stores:
        fleet = User.objects.filter(store=store, fleet_manager=True, is_active=True).first()
        if fleet is None:
            continue
        if store.companies.exists():
            out.skipped = True
            continue
        _seed_store(rng, store, fleet, out)
    return out


def _seed_store(rng, store: Store, fleet: User, out: DemoCompanies) -> None:
    consultants = list(User.objects.filter(store=store, role=Role.CONSULTANT, is_active=True, fleet_manager=False)
                       .order_by("username"))
    series = list(VehicleSeries.objects.filter(brand__is_own=True, is_active=True).order_by("pk"))
    clients = list(BaseClient.objects.filter(store=store, company__isnull=True)
                   .order_by("-kind", "pk"))  # the company cards first
    for i, (name, org_code, industry, size, turnover, legal, people, leads) in enumerate(COMPANIES):
        owner = fleet if i < 4 else consultants[0]
        company = company_save(
            actor=fleet, store=store, owner=owner, name=name, credit_code=credit_code(org_code), industry=industry,
            size=size, turnover=Decimal(turnover), legal_representative=legal,
            address=f"上海市闵行区{name[2:4]}路 {18 + i * 7} 号",
            people=[{"name": n, "title": t, "phone": p, "decision_role": r, "note": note}
                    for n, t, p, r, note in people])
        out.companies += 1
        out.people += len(people)
        for lead_name, phone, answers in leads:
            lead = visit_log(actor=fleet, store=store, name=lead_name, source="outbound", phone=phone,
                             series=rng.choice(series) if series else None, grade="B", assigned_to=fleet,
                             purchase_type="additional", company=company, industry=industry).lead
            lead_qualify(actor=fleet, lead=lead, **answers)
            out.leads += 1
        # The base clients that buy for the company: their vehicles are its fleet.
        for _ in range(3 - i // 2):
            if not clients:
                break
            client = clients.pop(0)
            client_update(actor=fleet if client.assigned_to_id == fleet.pk else _manager(store), client=client,
                          company=company, kind=ClientKind.COMPANY)
            out.clients += 1


def _manager(store: Store) -> User:
    return User.objects.filter(store=store, role=Role.MANAGER, is_active=True).order_by("pk").first()
