"""The HTTP edge: dependencies and routes."""
