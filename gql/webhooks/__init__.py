"""TikTok webhooks in the GraphQL face: the endpoint TikTok pushes to, `webhookEvents` and `webhookEventReplay`."""
