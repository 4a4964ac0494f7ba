"""Superset configuration of the test instance (`make test-superset`) and a starting point for your own.

SUPERSET_HOME holds the metadata database (SQLite here). Set SUPERSET_SECRET_KEY in any instance that is not a
throw-away test one.
"""

import os

SECRET_KEY = os.environ.get("SUPERSET_SECRET_KEY", "journey-test-instance-only-not-a-secret")
SQLALCHEMY_DATABASE_URI = "sqlite:///" + os.path.join(os.environ["SUPERSET_HOME"], "superset.db")
# The test drives the REST API with a bearer token from a script, not a browser session.
WTF_CSRF_ENABLED = False
# No example dashboards, no telemetry, no external fetches.
SUPERSET_LOAD_EXAMPLES = False
