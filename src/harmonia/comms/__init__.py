"""Outbound and inbound communication: the gate, the outbox dispatcher, providers, consent rules."""
