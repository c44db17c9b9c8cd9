"""Pure values and rules of callout; nothing here performs I/O."""
