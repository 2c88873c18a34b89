"""The GraphQL face of Shopbridge: Starlette app, schema, resolvers, subscriptions, and the `shopbridge` command."""
