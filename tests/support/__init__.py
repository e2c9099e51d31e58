"""Stand-ins for the outside services the bot talks to (TF Serving, Telegram Bot API)."""
