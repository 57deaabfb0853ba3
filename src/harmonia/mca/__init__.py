"""Merchant-cash-advance domain logic: deal metrics, the deterministic lender match."""
