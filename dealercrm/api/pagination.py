from rest_framework.pagination import PageNumberPagination


class StandardPagination(PageNumberPagination):
    """Page-number pagination with a client-chosen `page_size` (capped) for the org and small lists."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 200
