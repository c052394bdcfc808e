from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from dealercrm.pagination import CappedPaginator, count_cap


class StandardPagination(PageNumberPagination):
    """Page-number pagination with a client-chosen `page_size` (capped) for the org and small lists, and the big ones
    (a group's leads): ``count`` is exact up to 10,000 rows (``LIST_COUNT_CAP``); past it ``count`` says 10,000 and
    ``count_capped`` is true, and ``next`` still leads page by page to the end (dealercrm.pagination)."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 200
    django_paginator_class = CappedPaginator

    def get_paginated_response(self, data):
        return Response({
            "count": self.page.paginator.count,
            "count_capped": self.page.paginator.count_capped,
            "next": self.get_next_link(),
            "previous": self.get_previous_link(),
            "results": data,
        })

    def get_paginated_response_schema(self, schema):
        answer = super().get_paginated_response_schema(schema)
        cap = count_cap()
        answer["properties"]["count"]["description"] = (
            f"The rows the filters match, counted exactly up to {cap:,}; past that, {cap:,} with `count_capped` true "
            "(follow `next` to the end, or narrow the filters).")
        answer["properties"]["count_capped"] = {
            "type": "boolean", "description": f"True when more than {cap:,} rows match: `count` is then a floor."}
        answer["required"] = ["count", "count_capped", "results"]
        return answer
