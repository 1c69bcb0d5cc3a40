"""Training: pretraining on synthetic scenes and fine-tuning on user labels share one loop."""
