"""`Shop.inventoryPolicy` and `shopInventoryPolicyUpdate` (issue 8): how much of the pool a shop shows."""
