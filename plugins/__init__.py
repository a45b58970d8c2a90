"""Plugins shipped with faktory-core; each is registered through the ``faktory_core``
entry-point group exactly like a third-party plugin."""
