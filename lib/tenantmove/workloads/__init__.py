"""One module per kind of item: each describes how to list, find, apply and verify its items;
the engine (:mod:`tenantmove.engine`) runs them."""
