"""One router per resource: health, model, predict."""
