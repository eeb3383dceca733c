import os

from django.core.asgi import get_asgi_application
from django.urls import reverse

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewapp.settings")
application = get_asgi_application()
reverse("healthz")  # as in wsgi.py: the views load before the first request, not during it
