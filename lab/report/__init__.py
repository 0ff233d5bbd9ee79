"""What the lab writes for people: `status`, the diagnostics bundle, and the kind plan as a shell script."""
