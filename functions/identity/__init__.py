"""The identity function: sign-in and sessions, users, API keys, projects and the audit log (issue 11)."""
