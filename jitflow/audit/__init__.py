"""The audit log: the hash chain (`chain`, pure) and its files on disk (`store`)."""

from jitflow.audit.chain import EVENTS, GENESIS, next_record, record_hash, verify_chain
from jitflow.audit.store import AuditLog

__all__ = ["EVENTS", "GENESIS", "AuditLog", "next_record", "record_hash", "verify_chain"]
