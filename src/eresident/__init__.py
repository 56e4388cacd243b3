"""eresident: overseas electronic residency, one node per region."""
