"""The Batches tab over HTTP, on both stores: the list, a batch page, escaping, 404."""

from __future__ import annotations

import re
from collections.abc import Callable

from .conftest import Running, ack, fetch, job, new, push, raw


def test_list_and_batch_pages(serve: Callable[..., Running]) -> None:
    server = serve(web_binding="127.0.0.1:0")
    conn = server.conn()
    parent = new(conn, {"description": "<b>Import</b>", "success": {"jobtype": "Done"}})
    server.advance(1)  # newest first: one second younger
    child = new(conn, {"parent_bid": parent, "complete": {"jobtype": "ChildDone", "queue": "cb"}})
    push(conn, job(custom={"bid": parent}))
    push(conn, job(custom={"bid": parent}))
    raw(conn, f"BATCH COMMIT {parent}\r\n".encode())
    got = fetch(conn)
    assert got is not None
    ack(conn, got["jid"])

    listing = server.web_get("/batches")
    assert listing.status_code == 200
    html = listing.text
    assert "<title>Batches · Faktory</title>" in html
    assert '<a href="/batches" class="active" aria-current="page">Batches</a>' in html
    assert re.findall(r'<tr class="batch" data-bid="([^"]+)"', html) == [child, parent]
    assert "&lt;b&gt;Import&lt;/b&gt;" in html
    assert "<b>Import</b>" not in html

    detail = server.web_get(f"/batches/{parent}").text
    assert '<td class="batch-total">2</td>' in detail
    assert '<td class="batch-pending">1</td>' in detail
    assert '<td class="batch-state">running</td>' in detail
    assert f'<li class="batch-child"><a href="/batches/{child}">' in detail
    assert re.search(
        r'<tr class="callback" data-kind="success"><td>success</td><td>Done</td>', detail
    )

    child_page = server.web_get(f"/batches/{child}").text
    assert f'<a class="batch-parent"\n      href="/batches/{parent}">' in child_page
    assert "ChildDone" in child_page
    assert '<td class="batch-state">open</td>' in child_page

    got = fetch(conn)
    assert got is not None
    raw(conn, b"FAIL " + f'{{"jid":"{got["jid"]}","message":"no"}}'.encode() + b"\r\n")
    detail = server.web_get(f"/batches/{parent}").text
    members = re.findall(r'<tr class="member" data-state="(\w+)"><td><code>([^<]+)</code>', detail)
    assert members == [("failed", got["jid"])]
    assert f'<a href="/retries?jid={got["jid"]}">retries</a>' in detail

    missing = server.web_get("/batches/b-nope")
    assert missing.status_code == 404
