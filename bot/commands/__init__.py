"""The command layer: command types, the `/incident` grammar, the handler, capture, intake."""
