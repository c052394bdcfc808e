from django.urls import path

from .views import consultant, export, history, levels, manager, pool, rules, stale

app_name = "leads"

urlpatterns = [
    # The consultant's day (managers see the same pages for their whole store).
    path("leads/", consultant.lead_list, name="list"),
    path("leads/visit/", consultant.visit_log, name="visit"),
    path("leads/unit-row/", consultant.unit_row, name="unit_row"),
    path("leads/export.csv", export.lead_export, name="export"),
    path("leads/<int:pk>/", consultant.lead_detail, name="detail"),
    path("leads/<int:pk>/edit/", consultant.lead_edit, name="edit"),
    path("leads/<int:pk>/follow-up/", consultant.follow_up_add, name="follow_up"),
    path("leads/<int:pk>/grade/", consultant.grade_change, name="grade"),
    path("leads/<int:pk>/deal/", consultant.deal_add, name="deal"),
    path("leads/<int:pk>/revisit/", consultant.revisit_add, name="revisit"),
    path("leads/<int:pk>/history/", history.lead_history, name="history"),
    # The manager's queues.
    path("leads/<int:pk>/assign/", manager.lead_assign, name="assign"),
    path("leads/allocation/", manager.allocation, name="allocation"),
    path("leads/allocation/round-robin/", manager.round_robin, name="round_robin"),
    path("leads/allocation/bulk-move/", manager.bulk_move, name="bulk_move"),
    path("leads/reviews/", manager.review_queue, name="reviews"),
    path("leads/reviews/<int:pk>/", manager.review, name="review"),
    path("leads/merge/", manager.merge, name="merge"),
    # The jobs' flags: the manager's stale queue, the store's pool (公海).
    path("leads/stale/", stale.stale_queue, name="stale"),
    path("leads/stale/<int:pk>/", stale.stale_action, name="stale_action"),
    path("leads/pool/", pool.pool, name="pool"),
    path("leads/pool/<int:pk>/claim/", pool.pool_claim, name="pool_claim"),
    path("leads/pool/<int:pk>/assign/", pool.pool_assign, name="pool_assign"),
    # The group admin's settings.
    path("settings/grade-rules/", rules.grade_rules, name="grade_rules"),
    # Consultant levels (the store's manager) and the pick of a handoff waiting on the allocation page.
    path("settings/levels/", levels.levels_settings, name="levels"),
    path("leads/handoffs/<int:pk>/pick/", levels.handoff_pick_view, name="handoff_pick"),
]
