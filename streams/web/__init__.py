"""Live window tables for operators: the dashboard, the JSON API and ``emc top``, behind tokens.

Modules: :mod:`.server` (routes on the worker's web server, the token middleware), :mod:`.live`
(the one live view every page, the API and ``emc top`` read), :mod:`.api`, :mod:`.pages`,
:mod:`.openapi`, :mod:`.auth` (tokens), :mod:`.top` (the terminal view) and :mod:`.errors`.
"""
