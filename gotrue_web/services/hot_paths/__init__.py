"""The hot paths, GET /user and the refresh and password grants: their reads (``reads``), the
refresh grant itself (``refresh``) and its lock-free rotation of a live token (``rotation``),
and the password grant's writes (``sign_in``), built on driver_sql's prebuilt statements."""
