"""Postmortems: the record, the draft's context, rendering and the blameless review."""
