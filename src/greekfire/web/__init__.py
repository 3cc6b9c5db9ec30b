"""The dashboard: a read model over the journal and the live engine, a JSON API, local pages.

- :mod:`greekfire.web.config`: the ``dashboard`` config section and the bind rule (a host
  other than loopback needs a token).
- :mod:`greekfire.web.service`: :class:`~greekfire.web.service.DashboardService`, what the
  pages show, read from the journal (read-only) and, inside the bot, its live state;
  :mod:`greekfire.web.journal_view` rebuilds state from journal rows alone.
- :mod:`greekfire.web.models`: the response models (and the API's OpenAPI schema).
- :mod:`greekfire.web.api`: :func:`~greekfire.web.api.create_app`, the FastAPI app (JSON API,
  server-sent events, token-protected controls, ``/metrics``, the static pages).
- :mod:`greekfire.web.server`: :class:`~greekfire.web.server.DashboardServer`, uvicorn in a
  daemon thread.

Nothing is imported here: FastAPI and uvicorn load only when the dashboard is used.
"""
