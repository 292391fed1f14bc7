from __future__ import annotations

__version__ = "0.1.0"
SDK_NAME = f"prism-sdk/{__version__}"
USER_AGENT = f"prism-sdk-python/{__version__}"
