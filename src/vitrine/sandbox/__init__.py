"""Local stand-ins for the external services Vitrine talks to (tests, benchmarks, offline demo)."""
