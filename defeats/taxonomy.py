"""The default reason taxonomy (docs/defeats.md): the method's own reasons in its own words, so reports read like its
tables, each reason once. Seeded for every dealer group: by the data migrations for the groups that exist, by
:func:`defeats.services.reasons_for` for a group created later. Plain data, so the migrations can use it without the
app's models.

Each entry: (code, Chinese name, English name, requires_note, requires_competitor, children). A child has the same
shape without children. Groups edit, add and deactivate reasons afterwards; codes never change."""

DEFAULT_REASONS = [
    ("product", "产品价格原因", "Product and price", False, False, [
        # Its cause is recorded with the application, as a countable choice (models.PriceCause).
        ("price_high", "价格高", "Price too high", False, False),
        ("model_outdated", "车型老旧", "Model outdated", False, False),
        ("config_basic", "配置过于简单", "Configuration too basic", False, False),
        ("test_drive_noise", "试车噪音大", "Noisy in the test drive", False, False),
        ("brand_not_accepted", "品牌不认可", "Brand not accepted", False, False),
        ("load_capacity", "载货能力差", "Poor load capacity", False, False),
        ("model_unsatisfied", "车型不满意", "Not satisfied with the model", False, False),
    ]),
    ("process", "销售流程原因", "Sales process", False, False, [
        ("process_unclear", "销售流程概念不清", "Sales process unclear", False, False),
        ("weak_knowledge", "产品知识不足", "Too little product knowledge", False, False),
        ("no_stock", "无存货", "No stock", False, False),
        ("no_confidence", "对销售顾问信心不足", "Too little confidence in the consultant", False, False),
        ("technique_over_process", "偏重技巧不重流程", "Technique over process", False, False),
        ("slow_follow_up", "跟进不及时", "Follow-up not in time", False, False),
    ]),
    ("customer", "客户原因", "Customer", False, False, [
        ("funding_not_ready", "资金不到位", "Funding not ready", False, False),
        ("people_disapprove", "身边人不认可", "People around them disapprove", False, False),
        ("brand_habit", "品牌习惯", "Brand habit", False, False),
        ("purchase_cancelled", "取消购车计划", "Purchase plan cancelled", False, False),
        ("unreasonable_demands", "不合理要求", "Unreasonable demands", True, False),
        ("bought_used", "已购二手车", "Bought a used car", False, False),
        ("lost_contact", "失去联系", "Lost contact", False, False),
        # Not one of the method's reasons: the stale queue's "file as quasi-defeat" (the method's quasi-defeat "a long
        # time without a deal") needs a reason to file with. Never a defeat's reason in the seed's tables.
        ("long_no_deal", "长期未成交（滞留）", "A long time without a deal (stale)", False, False),
    ]),
]

# The reasons of the first taxonomy that the method's one merges (old code → new code), and those it retires
# (deactivated, kept on the applications that have no other reason). Used by migration 0006.
MERGED = {"price_really_high": "price_high", "price_apparently_high": "price_high", "product_no_stock": "no_stock",
          "process_no_stock": "no_stock"}
RETIRED = ["bought_competitor"]

# Reasons that make a defeat without a new competitor car (战败 = bought a competitor's car, or lost contact; a used
# car is the competitor table's 二手 row): a defeat with none of them names the competitor's series.
DEFEAT_WITHOUT_COMPETITOR = ("lost_contact", "bought_used")
PRICE_REASON = "price_high"
USED_REASON = "bought_used"


def default_reason_rows():
    """The defaults flattened, parents first: (code, parent_code, name, name_en, requires_note, requires_competitor,
    sort_order)."""
    rows = []
    for p_order, (code, name, name_en, note, competitor, children) in enumerate(DEFAULT_REASONS):
        rows.append((code, None, name, name_en, note, competitor, p_order * 100))
        for c_order, (c_code, c_name, c_name_en, c_note, c_competitor) in enumerate(children, start=1):
            rows.append((c_code, code, c_name, c_name_en, c_note, c_competitor, p_order * 100 + c_order))
    return rows
