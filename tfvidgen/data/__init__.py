"""Video data: sources (one module each), clip/frame sampling and tf.data pipelines."""
