"""Placeholder: being written."""
from django.http import HttpResponse


def _todo(request, *args, **kwargs):
    return HttpResponse("not yet built", status=501)


workspace = lead_list = visit_log = lead_detail = lead_edit = follow_up_add = grade_change = deal_add = revisit_add = _todo
