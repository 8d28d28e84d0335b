//! `AuditLog`: lifecycle events batched by a background writer thread into redb.
