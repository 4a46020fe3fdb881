"""Tests against a real inspector server: headless Chromium and concurrent HTTP clients."""
