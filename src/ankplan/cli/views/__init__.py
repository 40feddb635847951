"""Every renderer of what the user sees: plans, apply progress, watch and status tables,
diagnostics. Views write to the Env's streams or return strings; they decide nothing."""
