"""The anyio edge of the server: listener, connection loop and background loops."""
