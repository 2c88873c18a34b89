"""Open findings of the shared pool's split and moved holds (review64, stop 64): reproductions that FAIL on main, kept
here so the next fix starts from them. Not collected by `make test` (their names do not start with `test_`); run one
by naming it: `pytest -p no:randomly tests/e2e/open_findings/review64_split_cancel.py`. Each module's docstring names
its finding; the stop-64 hand-off note (issue 9's note) sums them up: F1/F3 (the split part's cut compares TikTok's
order time with the push's pool-read time), F2 (a cancelled older part), F4/F6 (a moved hold decremented by every
later sale of the SKU), F5 (a re-held hold with no cut time), F7 (item delete after a move then an unlink), F8 (an
open order first read after a hand move reserves on the new item while the hold names the old), F9 (a moved hold's
cancelled order still stands and a shop delete takes it off the shelf). A fixed one moves to a `test_` module."""
