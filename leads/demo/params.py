"""The demo's parameters: volumes, shares, rates and the Chinese text pools it draws from."""

from zoneinfo import ZoneInfo

SEED = 20261123
SHANGHAI = ZoneInfo("Asia/Shanghai")  # the demo stores' showroom clock
MONTHS = 12
BATCH = 500
DUPLICATES_PER_STORE = 6
# A store that uses the product well (issue 14): stale leads left unkept, and the share of valid leads older than ten
# days nobody followed up (each is overdue, then reclaimed to the pool). The bench data set is the place for backlogs.
STALE_LEFT_PER_STORE = 4
OLD_UNFOLLOWED = 0.004

# Traffic: first visits per weekday (Mon=0), scaled by the season (calendar month) and the store.
BASE_PER_DAY = 7.1  # with the weekend uplift ≈ 250 first visits a month
WEEKDAY = [1.0, 0.9, 0.95, 1.0, 1.05, 1.7, 1.5]
SEASON = {1: 0.94, 2: 0.92, 3: 1.0, 4: 1.03, 5: 1.0, 6: 1.01, 7: 0.95, 8: 0.96, 9: 1.05, 10: 1.08, 11: 1.02, 12: 1.06}
STORE_TRAFFIC = [1.03, 0.97]
ARRIVAL_HOURS = {9: 1, 10: 3, 11: 3, 12: 1.5, 13: 2, 14: 3, 15: 3.2, 16: 3, 17: 2, 18: 1.5, 19: 0.8}
CALL_HOURS = {9: 1, 10: 3, 11: 2.5, 12: 1, 13: 1.5, 14: 3, 15: 3, 16: 2.5, 17: 2, 18: 1, 19: 1.5, 20: 1}

# Source → [(channel code, weight, chance the visitor leaves no phone)]. Walk-in most, then referral, then outbound.
SOURCES = {"walk_in": 0.62, "referral": 0.22, "outbound": 0.16}
CHANNELS = {
    "walk_in": [("showroom", 0.65, 0.75), ("phone_in", 0.10, 0.05), ("internet", 0.25, 0.05)],
    "referral": [("base_client", 0.5, 0.15), ("friend", 0.4, 0.2), ("employee", 0.1, 0.1)],
    "outbound": [("event", 0.4, 0.35), ("exhibition", 0.25, 0.45), ("street", 0.25, 0.4), ("fleet", 0.1, 0.1)],
}
# Grade given at the first visit, E..A (a pyramid); referrals come warmer, outbound colder.
FIRST_GRADE = {"walk_in": [36, 29, 19, 11, 5], "referral": [28, 28, 24, 14, 6], "outbound": [44, 31, 16, 7, 2]}
ANONYMOUS_GRADE = {None: 55, "E": 38, "D": 5, "C": 2}

# Consultants by position in the store (sales1..sales4): share of new leads, diligence (chance a lead gets followed
# up), closing weight, and chance a follow-up promotes a lead from each rung. DOMAIN §3: the best close B→A, the
# experienced C→B, newer staff carry E→D→C.
SHARE = [0.23, 0.25, 0.26, 0.26]
DILIGENCE = [0.70, 0.66, 0.62, 0.52]
CLOSING = [1.6, 1.2, 0.8, 0.7]
PROMOTE = [
    {"E": 0.30, "D": 0.20, "C": 0.26, "B": 0.30},
    {"E": 0.32, "D": 0.22, "C": 0.32, "B": 0.18},
    {"E": 0.42, "D": 0.30, "C": 0.16, "B": 0.10},
    {"E": 0.38, "D": 0.26, "C": 0.13, "B": 0.08},
]
DEMOTE = 0.04
DEAL_SHARE = (0.115, 0.135)  # of valid-info leads

# Typical transaction price (CNY) by series; other series by segment.
PRICES = {"Corolla": 120_000, "Camry": 200_000, "Avalon": 260_000, "RAV4": 190_000, "Highlander": 280_000,
          "Sienna": 310_000, "bZ3X": 140_000}
SEGMENT_PRICES = {"compact": 120_000, "midsize": 200_000, "large": 250_000, "suv": 200_000, "mpv": 300_000,
                  "pickup": 150_000, "light_truck": 110_000, "light_bus": 160_000}
# The second store (odd position) sells light commercial vehicles: trucks, pickups and light buses, a share of them
# in fleet orders (批售) of several units to companies, delivered in parts.
LCV_SEGMENTS = frozenset({"light_truck", "pickup", "light_bus"})
LCV_PRICES = {"Qiyuan K3": 92_000, "Qiyuan K5": 118_000, "Qiyuan K7 Reefer": 168_000, "Qiyuan Ruitu": 135_000,
              "Qiyuan V6": 145_000, "Qiyuan V9 LWB": 182_000}
FLEET_SHARE = 0.4  # of the LCV store's deals
FLEET_SIZES = [2, 2, 2, 3, 3, 4, 5, 5, 6, 8, 10]
FLEET_INDUSTRIES = ["物流运输", "建筑", "制造业", "餐饮"]
OWN_INTEREST = {"Qiyuan K3": 16, "Qiyuan K5": 20, "Qiyuan K7 Reefer": 8, "Qiyuan Ruitu": 12, "Qiyuan V6": 14,
                "Qiyuan V9 LWB": 8, "Corolla": 20, "Camry": 18, "RAV4": 18, "Highlander": 12, "Sienna": 8, "bZ3X": 8, "Avalon": 6}

DISTRICTS = ["浦东新区", "闵行区", "徐汇区", "长宁区", "静安区", "普陀区", "虹口区", "杨浦区", "黄浦区", "宝山区",
             "嘉定区", "松江区", "青浦区", "奉贤区", "金山区", "崇明区"]
HOME_DISTRICT = ["浦东新区", "闵行区"]  # by store position
INDUSTRIES = ["IT/互联网", "金融", "制造业", "教育", "医疗", "个体经营", "公务员/事业单位", "物流运输", "房地产",
              "餐饮", "外贸", "建筑"]
SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
            "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴莫孔向汤")
GIVEN = {
    "male": ["伟", "强", "磊", "军", "洋", "勇", "杰", "涛", "斌", "超", "明", "刚", "辉", "鹏", "飞", "鑫", "波", "宇",
             "浩", "凯", "建国", "志强", "建华", "文博", "晓东", "子涵", "宇轩", "浩然", "俊杰", "海峰", "立新", "振华",
             "晨阳", "国平", "家豪", "永辉", "天宇", "明哲"],
    "female": ["芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "燕", "玲", "婷", "雪", "琳", "颖", "倩", "洁", "慧",
               "莉", "欣", "悦", "秀英", "丽华", "晓燕", "雅婷", "欣怡", "诗涵", "梦瑶", "思琪", "婉清", "佳慧", "雨萱",
               "美玲", "春梅", "文静"],
}
MOBILE_PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153", "155",
                   "156", "157", "158", "159", "166", "173", "175", "176", "177", "178", "180", "181", "182", "183",
                   "185", "186", "187", "188", "189", "191", "198", "199"]

# Follow-up texts. {series}: series of interest, {rival}: a competitor, {budget}/{price}: 万元.
TEXTS = {
    "phone": ["电话回访，客户对{series}的外观和空间比较满意，主要关注油耗和保值率",
              "电话沟通，客户还在对比{rival}，已把两款车的配置对比表发给客户",
              "电话回访，客户说家里还在商量，预算{budget}万左右，下周再联系",
              "电话回访，客户询问{series}现车颜色和提车周期",
              "致电介绍本月金融政策（两年零息），客户有兴趣，约周末来店详谈",
              "电话回访，客户关心置换补贴，已约二手车评估师周六看车",
              "电话回访，客户对{series}的动力和静音比较认可，觉得后排空间稍小"],
    "wechat": ["微信发送{series}配置表和本月优惠，客户已读，询问首付比例",
               "微信推送周末试驾活动邀请，客户回复周六上午有空",
               "微信分享车主提车视频和口碑案例，客户咨询保养费用",
               "微信回复客户关于{series}混动版油耗的问题，附车主实测数据"],
    "sms": ["短信告知本周末店内团购活动和限时优惠", "短信发送置换补贴政策和金融方案，提醒客户有问题随时联系"],
    "showroom": ["客户再次到店，看了{series}实车，重点了解安全配置", "客户带家人到店看车，现场报价{price}万，客户表示回去商量"],
    "test_drive": ["安排{series}试驾，客户对舒适性评价高，关注后排空间和储物", "客户试驾{series}，对操控满意，询问保险和上牌费用"],
    "home_visit": ["上门拜访，送{series}车型资料和小礼品，客户家人一起了解用车需求"],
    "no_answer": ["电话未接通，已发微信留言", "两次致电无人接听，已发短信提醒回电", "客户电话关机，明天再联系"],
    "not_now": ["客户表示近期不考虑购车，年底再说，保持定期关怀", "客户说最近工作忙，购车计划暂缓，下月再联系"],
    "D": ["完成需求分析：客户现有车况良好，暂无明确换车计划，纳入定期关怀",
          "了解到客户开{rival}五年了，暂时没有换车打算，后续定期联系"],
    "C": ["客户有换车想法但不着急，推荐了{series}车主口碑案例，约时间试驾", "客户开始认真考虑购车，关注{series}，时间未定"],
    "B": ["客户确定半年内购车，等年终奖发下来再决定，保持紧密联系",
          "客户已试驾{series}，在和{rival}之间比较，预计三四个月内决定"],
    "A": ["客户基本选定{series}，在谈价格和金融方案，约本周到店确认", "客户确认预算{budget}万，意向{series}，要求正式报价，重点跟进"],
    "down": ["客户家里有变动，购车计划推迟到明年", "客户预算收紧，暂缓购车，降级观察", "客户更倾向{rival}，意向减弱"],
    "won": ["客户确认购买{series}，约定到店签合同、交定金", "价格和金融方案已谈妥，客户同意本周到店签单"],
}
METHODS = {"phone": 45, "wechat": 28, "sms": 5, "showroom": 10, "test_drive": 6, "home_visit": 6}
OUTCOMES = {"reached": 45, "appointment": 15, "no_answer": 28, "not_now": 12}
UP_OUTCOMES, DOWN_OUTCOMES = {"reached": 6, "appointment": 4}, {"not_now": 6, "reached": 4}
REJECTIONS = ["记录过于简单，请补充客户需求和下次跟进计划", "没写清客户对价格的反馈，请补充",
              "定级依据不足，请写明客户预计购车时间", "跟进方式与内容不符，请核实后补充"]
VISIT_NOTES = ["看了{series}，关注空间和油耗", "和家人一起来，对比{rival}", "了解{series}的金融方案", "随便看看"]
REASSIGN_REASONS = ["客户要求更换顾问", "平衡顾问工作量", "原顾问休假，临时移交"]
