"""Use cases: async functions over ports. Each loads, asks the model, commits, and enqueues after commit."""
