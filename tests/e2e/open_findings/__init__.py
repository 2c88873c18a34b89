"""Open findings of the shared pool's split and moved holds (review64, stop 64): reproductions that FAIL on main, kept
here so the next fix starts from them. Not collected by `make test` (their names do not start with `test_`); run one
by naming it: `pytest -p no:randomly tests/e2e/open_findings/review64_split_cancel.py`. Each module's docstring names
its finding; the stop-64 hand-off note (issue 9's note) sums them up. Open: F1/F3 (the split part's cut compares
TikTok's order time with the push's pool-read time), F2's unread variant (a cancelled older part not read yet), F7's
`unlinked` variant (item delete after a plain unlink: a product call), F8 (an open order first read after a hand move
reserves on the new item while the hold names the old; review64_split_open_order, review64_split_cancel_after_read),
F9, read or not (a moved hold's cancelled order still stands to its horizon and a shop delete takes it off the
shelf; pool65's fix of the read variant was taken back after review65 R1, review64_moved_hold_cancelled), flake66's
(a sale made while a push's write is on its way, read, takes a unit off a split's rest:
flake66_split_sale_during_write, the signature of test_inventory_fence_split_restart's flake).
Found by review67 (stop 67): R2, flake66 in its common form (the sale in the pool read's own second:
review67_split_sale_in_the_read_second), and R6, a cancellation the write overwrites in flight held back as a sale
unseen, then taken off the shelf by a shop delete (review67_cancel_overwritten_in_flight). Two candidate fixes were
reviewed and not merged at stop 67 (fence67's in-flight rule, pool67's `hold_orders` evidence): their regressions
are pinned by tests/e2e/test_inventory_fence_in_flight.py, which passes on main. Fixed by
pool65 and moved to `test_` modules: F4 and F5 (review64_moved_back_sale_in_flight), F6
(review64_moved_hold_other_item_sale), F2's read variant (tests/e2e/test_inventory_fence_split_hold.py), F7's
move-then-unlink (tests/e2e/test_inventory_item_delete_unpushed.py). review65 R1's regression test (a cancelled
order in no hold gives a moved hold nothing back) is in tests/e2e/test_inventory_fence_split_hold.py since pool66
made its given deterministic (settled before TikTok's writes are held)."""
