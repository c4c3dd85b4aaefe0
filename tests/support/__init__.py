"""Helpers the test packages share: real servers, clients and data, no fixtures."""
