"""A built-in emulator of the marketplaces' wire formats, for the demo and the integration tests.

Mounted under ``/sandbox/`` only when ``settings.SANDBOX_ENABLED`` (off by default in production).
"""
