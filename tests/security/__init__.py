"""Authentication, roles, exposure and file permissions of a node (docs/security.md)."""
