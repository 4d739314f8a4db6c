"""Features and targets: from the user's frames to float32 matrices and back."""
