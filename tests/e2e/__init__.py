"""End-to-end tests: a real node process driven by a real browser (Chromium through Playwright)."""
