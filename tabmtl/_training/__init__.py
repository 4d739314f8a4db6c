"""Training: the skorch net, batching, callbacks, resume and distributed fits."""
