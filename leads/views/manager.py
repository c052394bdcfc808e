"""Placeholder: being written."""
from django.http import HttpResponse


def _todo(request, *args, **kwargs):
    return HttpResponse("not yet built", status=501)


lead_assign = allocation = round_robin = bulk_move = review_queue = review = merge = _todo
