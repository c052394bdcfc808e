"""Lead pages: `consultant` (workspace, list, visit log, lead detail) and `manager` (allocation, reviews, merge)."""
