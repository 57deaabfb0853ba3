"""Harmonia: an MCP-native CRM. The package's public entry points are the surfaces (CLI, MCP, REST, web)."""

__version__ = "0.1.0"
