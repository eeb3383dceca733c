import os

from django.core.wsgi import get_wsgi_application
from django.urls import reverse

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewapp.settings")
application = get_wsgi_application()
# The first reverse imports the URLconf, and with it every view (a second or so), and maps it:
# now, while the worker starts, rather than while its first requests wait for it (as many at once
# as a threaded worker has threads).
reverse("healthz")
