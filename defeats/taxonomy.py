"""The default reason taxonomy (docs/defeats.md), seeded for every dealer group: by the data migration for the groups
that exist, by :func:`defeats.services.reasons_for` for a group created later. Plain data, so the migration can use
it without the app's models.

Each entry: (code, Chinese name, English name, requires_note, requires_competitor, children). A child has the same
shape without children. Groups edit, add and deactivate reasons afterwards; codes never change."""

DEFAULT_REASONS = [
    ("product", "产品/价格", "Product / price", False, False, [
        ("price_really_high", "价格确实偏高（我方定位）", "Price really too high (our positioning)", False, False),
        ("price_apparently_high", "价格看似偏高（加价、价格战、促销不一、借口、需求误判）",
         "Price apparently too high (mark-up, price war, promotions, excuse, needs misread)", True, False),
        ("model_outdated", "车型老旧", "Model outdated", False, False),
        ("config_basic", "配置偏低", "Configuration too basic", False, False),
        ("test_drive_noise", "试驾噪音大", "Noise in the test drive", False, False),
        ("brand_not_accepted", "不认可品牌", "Brand not accepted", False, False),
        ("load_capacity", "载货/载客能力不足", "Load capacity", False, False),
        ("product_no_stock", "无现车", "No stock", False, False),
    ]),
    ("process", "销售流程", "Sales process", False, False, [
        ("process_unclear", "流程不清晰", "Unclear process", False, False),
        ("weak_knowledge", "产品知识薄弱", "Weak product knowledge", False, False),
        ("process_no_stock", "没有库存", "No stock to offer", False, False),
        ("no_confidence", "对顾问缺乏信任", "No confidence in the consultant", False, False),
        ("technique_over_process", "重技巧轻流程", "Technique over process", False, False),
        ("slow_follow_up", "跟进不及时", "Slow follow-up", False, False),
    ]),
    ("customer", "客户原因", "Customer", False, False, [
        ("bought_competitor", "已购竞品车", "Bought a competitor's car", False, True),
        ("lost_contact", "失去联系", "Lost contact", False, False),
        ("funding_not_ready", "资金未到位", "Funding not ready", False, False),
        ("unreasonable_demands", "要求不合理", "Unreasonable demands", True, False),
        ("purchase_cancelled", "取消购车计划", "Purchase cancelled", False, False),
        ("bought_used", "改买二手车", "Bought used instead", False, False),
        ("people_disapprove", "身边人反对", "People around them disapprove", False, False),
        ("long_no_deal", "长期未成交（滞留）", "A long time without a deal (stale)", False, False),
    ]),
]


def default_reason_rows():
    """The defaults flattened, parents first: (code, parent_code, name, name_en, requires_note, requires_competitor,
    sort_order)."""
    rows = []
    for p_order, (code, name, name_en, note, competitor, children) in enumerate(DEFAULT_REASONS):
        rows.append((code, None, name, name_en, note, competitor, p_order * 100))
        for c_order, (c_code, c_name, c_name_en, c_note, c_competitor) in enumerate(children, start=1):
            rows.append((c_code, code, c_name, c_name_en, c_note, c_competitor, p_order * 100 + c_order))
    return rows
