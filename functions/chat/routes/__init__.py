"""HTTP routes of the chat API. Thin: parse, call the service, shape the answer."""
