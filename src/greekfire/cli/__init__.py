"""The composition root: the ``greekfire`` command."""
