"""What the catalog announces to the apps above it, which it must not import."""

from django.dispatch import Signal

# Sent inside the transaction that changed an app's context span (`app=`, `actor=` who changed it):
# which passages the model saw is decided by it, so what was summed from chunk ratings must be
# summed again.
context_span_changed = Signal()
