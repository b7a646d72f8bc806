"""Bot accounts and their API keys: a bot is a user (`User.is_bot`) that its owner manages
and that authenticates with an API key instead of a password."""
