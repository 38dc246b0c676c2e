"""FakeStoreAPI integration: resilient product reads (cache, database copy, stale fallback) and favorites."""
