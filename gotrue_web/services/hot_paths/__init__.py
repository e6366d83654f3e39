"""The two hot paths, GET /user and the refresh grant: their reads (``reads``), the refresh
grant itself (``refresh``) and its lock-free rotation of a live token (``rotation``), built on
driver_sql's prebuilt statements."""
