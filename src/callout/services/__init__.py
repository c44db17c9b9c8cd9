"""Use cases shared by every transport: authentication, authorization, validation, writes with events."""
