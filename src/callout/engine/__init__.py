"""The execution engine: routing to the best execution, building and signing payloads, running target chains."""
