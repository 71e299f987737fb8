"""HTTP and WebSocket routes under ``/api``."""
