"""Use cases, one module per area. Each takes a unit of work for one tenant and changes records through the ORM."""
