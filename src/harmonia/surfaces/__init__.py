"""Every way in: CLI, MCP (stdio and HTTP), REST, web UI, worker. Thin adapters over the operations registry."""
