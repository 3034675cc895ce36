"""Local images of the engine tier (see README.md)."""
