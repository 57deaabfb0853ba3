"""Workflows and sequences: definitions and versions, enrollments, the engine, and their reactions to events.

definitions  what a workflow is made of (trigger, steps, settings), saved as immutable versions
enrollments  enrolling contacts (per-contact answers), stopping, resuming, discarding
engine       claims due runs with a lease and runs each step through the registry as the `workflow` channel
invoke       the one function a step calls an operation through
reactions    stop rules and triggers from domain events; timers: deal idle, date fields
schedule     allowed hours, business hours, retry backoff
"""
