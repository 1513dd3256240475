"""The back office's own pages: users and groups with the administrator's
actions, and the audit log. The apps' admin.py files register their
read-only pages (chatsite.adminkit)."""

from backoffice.admin import audit, groups, messages, users  # noqa: F401  (each registers its pages)
