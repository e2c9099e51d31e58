"""The bot's limits, one a module: detection slots (this process's detections in flight),
Telegram's flood limit (messages sent), and each person's photo rate and hourly cap."""
