"""DOMAIN.md §5 defaults: the scoring criteria, the care plan per tier and the suggested recognitions. A group gets
copies of these the first time it needs them (``services.settings.ensure_group_defaults``); from then on they are
the group admin's to edit. No ORM here."""

from __future__ import annotations

from dataclasses import dataclass

# (dimension, code, Chinese, English, max points, fact, order). Each dimension sums to 100.
CRITERIA = [
    ("loyalty", "satisfaction", "车辆及服务满意度（无投诉/已解决/未解决）",
     "Satisfaction (complaints: none / solved / unsolved)", 20, "", 1),
    ("loyalty", "maintenance", "在本站定期保养", "Regular maintenance at our station", 20, "", 2),
    ("loyalty", "repairs", "在本店维修", "Repairs at our shop", 15, "", 3),
    ("loyalty", "events", "参加活动（自动：按到场签到）", "Takes part in events (automatic: door attendance)", 15, "events",
     4),
    ("loyalty", "word_of_mouth", "主动正面口碑", "Active positive word of mouth", 15, "", 5),
    ("loyalty", "referrals", "推荐数与推荐成交（自动）", "Referrals and referral deals (automatic)", 15, "referrals", 6),
    ("power", "reputation", "区域/行业内知名度", "Reputation in the region or industry", 20, "", 1),
    ("power", "business", "经营状况", "Business condition", 20, "", 2),
    ("power", "trade_word", "行业内口碑", "Word of mouth in the trade", 15, "", 3),
    ("power", "reach", "业务辐射范围", "Business reach", 15, "", 4),
    ("power", "fleet", "现有车队规模（自动）", "Current fleet size (automatic)", 15, "fleet", 5),
    ("power", "plans", "未来购车计划、需求与能力", "Future purchase plans, needs and means", 15, "", 6),
]

# Automatic criteria: points per referral lead and per referral deal; fleet: vehicles for the full points.
POINTS_PER_REFERRAL = 5
POINTS_PER_REFERRAL_DEAL = 10
FLEET_FOR_FULL_POINTS = 10
# Events: points per event the client was marked arrived at (three events: the default criterion's full 15).
POINTS_PER_EVENT = 5


@dataclass(frozen=True)
class PlanItem:
    tier: str  # "" = every tier
    kind: str
    channel: str
    title: str
    title_en: str
    every_months: int | None = None
    offset_days: int = 0
    on_month: int | None = None
    on_day: int | None = None
    vehicle_use: str = ""


CARE_PLAN = [
    # Every tier: a call at least monthly, a visit at least quarterly (一月一电访, 三月一登门).
    PlanItem("", "call", "phone", "月度电话回访", "Monthly care call", every_months=1),
    PlanItem("", "visit", "visit", "季度登门拜访", "Quarterly visit", every_months=3),
    # Vehicle-dated, every tier.
    PlanItem("", "delivery_visit", "visit", "交车后3日内上门回访", "Post-delivery visit", offset_days=3),
    PlanItem("", "first_maintenance", "phone", "首保提醒", "First maintenance reminder", offset_days=90),
    PlanItem("", "insurance_renewal", "phone", "续保提醒", "Insurance renewal reminder", every_months=12,
             offset_days=-30),
    # The interval is the group's inspection rule by the vehicle's use and segment (TierRule.inspection_*).
    PlanItem("", "inspection", "phone", "年检提醒", "Inspection reminder", offset_days=-30),
    # Premium.
    PlanItem("premium", "news", "wechat", "促销及新车资讯", "Promotion and new-model news", every_months=2),
    PlanItem("premium", "birthday", "wechat", "生日问候", "Birthday greeting"),
    PlanItem("premium", "holiday", "wechat", "国庆节问候", "National Day greeting", on_month=10, on_day=1),
    PlanItem("premium", "holiday", "wechat", "元旦问候", "New Year greeting", on_month=1, on_day=1),
    PlanItem("premium", "club_event", "phone", "车友会活动邀请", "Club-event invitation", every_months=6),
    # Potential.
    PlanItem("potential", "objection", "visit", "异议处理回访", "Objection-handling visit", every_months=6),
    PlanItem("potential", "birthday", "wechat", "生日问候", "Birthday greeting"),
    PlanItem("potential", "holiday", "wechat", "国庆节问候", "National Day greeting", on_month=10, on_day=1),
    PlanItem("potential", "club_event", "phone", "车友会活动邀请", "Club-event invitation", every_months=6),
]

# Suggested recognitions per referral type (DOMAIN §5), stored per group in the installation's language.
RECOGNITIONS = {
    "old_user": ("推荐人享受推荐优惠", "Referral discount for the referrer"),
    "same_region": ("推荐人享受推荐优惠", "Referral discount for the referrer"),
    "friends_family": ("给予顾问特别奖励", "A special reward for the consultant"),
    "first_time": ("总经理签名感谢信", "A personal thank-you letter signed by the general manager"),
    "repeat": ("邀请加入大客户俱乐部", "Invitation to the big-customer club"),
    "same_industry": ("邀请加入大客户俱乐部", "Invitation to the big-customer club"),
}
