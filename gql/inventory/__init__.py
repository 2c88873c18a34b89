"""GraphQL face of the shared inventory pool (issue 8): items, links, movements, their queries, mutations and the
`inventoryItemUpdated` subscription. Names are the issue's contract."""
