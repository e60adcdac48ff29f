"""Staff and customer accounts: passwords, TOTP, server-side sessions, CSRF, login limits, roles.

Review-facing code may import :mod:`overheard.accounts.rbac` (it never reaches the identity zone);
only :mod:`overheard.accounts.customers` looks a customer up by e-mail through ``identity``.
"""
