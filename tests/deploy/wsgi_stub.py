"""A WSGI app for tests/deploy/test_gunicorn_conf.py: answers with the torch thread count of the worker
that serves the request, which deploy/gunicorn.conf.py's post_fork hook is meant to have set."""

from __future__ import annotations


def app(environ, start_response):
    import torch

    body = str(torch.get_num_threads()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
