"""The shared inventory pool's rules (issue 8; ../shared/live-sync.md §3.5, §7): items and their counters, the
order ledger's transitions, SKU auto-linking and seeding. Pure: no I/O, standard library only."""
