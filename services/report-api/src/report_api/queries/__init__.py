"""Read-side queries of the reports: keyword-only functions over an asyncpg connection."""
