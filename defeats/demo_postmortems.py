"""Demo post-mortems (复盘): in each demo store, a few approved reviews of important lost customers, written the way a
consultant would (price, the competitor's test drive, a follow-up too late, the down payment...) and linked to the
talk tracks of their causes, and one draft still being written. Through the services, like a real store."""

from __future__ import annotations

from django.db.models import F

from dealercrm.models import Notification, Role, Store, User
from leads.models import Status as LeadStatus

from . import postmortems, services
from .models import Application, ApplicationStatus, PostMortem, TalkTrack

# (causes, grade where it turned, what happened, what to do differently)
LESSONS = [
    (("price_high",), "A",
     "客户拿着长城风骏的报价来比价，说我们贵一万二。我只强调了店里的优惠，没有讲清楚我们的发动机和货箱配置差异，第二次到店前客户就在对方店交了定金。",
     "报价前先做一张配置对比表，把差价折算成每天的用车成本；客户说贵时先确认比较的车型和配置是否一样，再谈优惠。"),
    (("test_drive_noise", "model_unsatisfied"), "B",
     "客户在竞品店试驾了两次，对方销售带着满载的货箱跑了高速；我们只在店门口绕了一圈，客户觉得我们的车噪音大、动力弱。",
     "试驾路线按客户的真实用途设计（载货、上高速），试驾后当场问感受；知道客户要去竞品店试驾时，先约我们的深度试驾。"),
    (("slow_follow_up",), "A",
     "客户试驾后说要和家人商量。我第二天忙展厅活动，四天后才回访，客户已经在别的店订了车。",
     "A级客户试驾后24小时内必须回访并约第二次到店；忙不过来时提前请同事代为回访，不能让A级客户等。"),
    (("funding_not_ready",), "B",
     "客户首付不够，我没有主动介绍金融方案，客户转去了能做低首付的二手车商。",
     "B级以上客户谈价格前先了解付款方式，主动给出两种金融方案的月供对比；首付不够不等于没有需求。"),
]
DRAFT = (("no_confidence",), "B", "客户问了三次交车时间，我每次的说法都不一样，", "")
EXTRA_TRACKS = [
    ("price_high", "我们的车在同级别中配置更全，保值率更高", "只比较落地价，容易忽略配置差异和五年的使用成本",
     "买车看总拥有成本：配置和残值算进来，我们更划算"),
    ("slow_follow_up", "我们承诺试驾后24小时内回访，答疑和方案都有专人跟进", "拖得越久，客户越容易被别家先约走",
     "选车也要选服务：从今天起您有什么问题我第一时间回复"),
]


def demo_post_mortems_seed(*, stores: list[Store]) -> int:
    """Post-mortems for the demo stores that have none yet; returns how many were written."""
    written = 0
    for store in stores:
        if PostMortem.objects.filter(store=store).exists():
            continue
        manager = User.objects.filter(store=store, role=Role.MANAGER, is_active=True).order_by("pk").first()
        if manager is None:
            continue
        reasons = {r.code: r for r in services.reasons_for(store.group_id)}
        for code, fact, problem, viewpoint in EXTRA_TRACKS:
            if code in reasons and not TalkTrack.objects.filter(reason=reasons[code]).exists():
                services.talk_track_save(actor=manager, reason=reasons[code], fact=fact, problem=problem,
                                         viewpoint=viewpoint)
        # Confirmed defeats whose customer is still lost (one won back, or handed on since, is not reviewed).
        apps = list(Application.objects.filter(store=store, status=ApplicationStatus.CONFIRMED,
                                               consultant__is_active=True, lead__assigned_to=F("consultant"),
                                               lead__status__in=[LeadStatus.WON, LeadStatus.DEFEATED])
                    .select_related("lead", "consultant").order_by("-decided_at")[:60])
        important = [a for a in apps if postmortems.highest_grade_reached(a.lead) in postmortems.IMPORTANT_GRADES]
        picked = (important + [a for a in apps if a not in important])[:len(LESSONS) + 1]
        for app, (codes, grade, what, lesson) in zip(picked, [*LESSONS, DRAFT], strict=False):
            pm = postmortems.post_mortem_open(actor=app.consultant, lead=app.lead)
            pm = postmortems.post_mortem_save(
                actor=app.consultant, post_mortem=pm, turned_at_grade=grade,
                reasons=[reasons[c] for c in codes if c in reasons], what_happened=what, lessons=lesson,
                our_series=pm.our_series, competitor_series=pm.competitor_series)
            written += 1
            if not lesson:  # the draft the consultant is still writing
                continue
            pm = postmortems.post_mortem_submit(actor=app.consultant, post_mortem=pm)
            postmortems.post_mortem_approve(actor=manager, post_mortem=pm, comment="写得具体，全店学习。")
    Notification.objects.filter(kind__startswith="postmortem_", recipient__store__in=stores).exclude(
        kind="postmortem_opened").delete()
    return written
