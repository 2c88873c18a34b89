"""Shopbridge's pure rules: standard library only, synchronous, no I/O.

Entities and value objects live in one module per concept (`shops`, `authorization`, `catalog`, `orders`,
`sync`); `ports` names what the outside world must provide; `services` are the use cases over those ports.
"""
