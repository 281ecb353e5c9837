"""Getting a sealed release to the commissioner: MESH, HTTPS POST or a folder, at most once.

Every transport carries the release id so the far end can recognise a repeat, and
``send.send_release`` checks the practice's receipts before any attempt so a release that was
delivered is never delivered again.
"""
