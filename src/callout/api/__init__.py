"""The HTTP surface: Connect unary JSON and REST adapters over the shared services, plus operations."""
