"""The reports app's writes: imports (``imports``) and prepared report files (``files``)."""
