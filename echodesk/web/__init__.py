"""The read-only web archive: a Flask blueprint (:mod:`echodesk.web.app`) and its templates.

It reads through :mod:`echodesk.store` and never imports the desk; the one
thing it asks of the rest of Echo, mailing a sign-in link, is handed to it.
"""
