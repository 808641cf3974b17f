"""One function per user action: permission, validation, write and audit in the caller's transaction."""
