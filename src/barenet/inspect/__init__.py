"""Looking at a trained model: metrics, figures and the diagnosis of why a network does not
learn."""
