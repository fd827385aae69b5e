"""Training: base model preparation and fine-tuning for notescore."""
