"""Detection: image in, objects out, annotated picture and per-class counts made."""
