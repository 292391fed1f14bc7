"""The identity API's routes, one module per surface (``oidc``: single sign-on)."""
