"""TikTok webhooks in the GraphQL face: the HTTP endpoint TikTok pushes to, and `webhookEvents` / `webhookEventReplay`."""
