"""The incident domain: lifecycle, roles, timeline, action items, permissions."""
