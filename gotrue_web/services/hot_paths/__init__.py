"""The two hot paths, GET /user and the refresh grant: their reads (``reads``) and the refresh's
lock-free rotation (``rotation``), built on driver_sql's prebuilt statements."""
