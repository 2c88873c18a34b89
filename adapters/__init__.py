"""Everything that talks to the outside world: configuration, database, TikTok, queue, events, crypto."""
