"""Provider adapters. Only `harmonia.comms.gate` may call them; `send()` demands a permit only the gate mints."""
