"""amalg's built-in components, registered through amalg's own entry points."""
