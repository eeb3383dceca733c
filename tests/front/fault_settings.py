"""Settings for a web process in a fault test: the test settings, with what production keeps on
and tests.settings turns off, so a fault meets the code a deployment runs: allauth's sign-in
limits and the API throttles (both counted in the cache), and kept PostgreSQL connections."""

from reviewapp.settings import ACCOUNT_RATE_LIMITS as PRODUCTION_RATE_LIMITS
from reviewapp.settings import API_THROTTLE_RATES as PRODUCTION_THROTTLE_RATES
from tests.settings import *  # noqa: F403
from tests.settings import DATABASES

ACCOUNT_RATE_LIMITS = PRODUCTION_RATE_LIMITS
API_THROTTLE_RATES = PRODUCTION_THROTTLE_RATES
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"]["CONN_MAX_AGE"] = 60
