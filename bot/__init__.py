"""DetectX: a Telegram bot that finds objects in photos."""
