"""Lifecycle notifications: events read off the audit log, rendered per target, sent once,
and retried from an outbox when a target fails. The pure parts are re-exported here; the
sending is `jitflow.notify.transport` (urllib and boto3)."""

from jitflow.notify.dispatch import DeliveryFailed, Dispatched, Sender, dispatch
from jitflow.notify.events import (
    KINDS,
    SCHEMA_VERSION,
    Event,
    expiring_soon,
    from_records,
    review_overdue,
)

__all__ = ["KINDS", "SCHEMA_VERSION", "DeliveryFailed", "Dispatched", "Event", "Sender",
           "dispatch", "expiring_soon", "from_records", "review_overdue"]
