"""Request and response models: the only place engine results become JSON.

One module per area: :mod:`~app.schemas.wire` (the base model and rendering), ``requests``
(strict request models and the config), ``session`` (state and session answers), ``trace``,
``history``, ``boundary``, ``diagnostics`` (chain rule, gradient check), ``update`` (the
update of one weight), ``data``, ``catalog``, ``stream`` (WebSocket messages and frames),
``errors`` and ``health``.
"""
