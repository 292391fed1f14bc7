"""Identity and access (issue 11): users, roles, sessions, API keys, projects and the audit log.

``model`` (what they are), ``ports`` (the store they live in), ``passwords`` (argon2id),
``tokens`` (opaque random tokens, stored as SHA-256 digests), ``service`` (the rules), ``errors``.
The FastAPI glue is :mod:`prism.auth`; the PostgreSQL store :mod:`prism.adapters.postgres_identity`.
"""
