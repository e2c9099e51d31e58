"""A tiny SavedModel with the zoo detector's signature, for machines without ../shared.

Same `serving_default` contract as the real model: `input_tensor` uint8 [1, None, None, 3] in;
`detection_boxes` [1, 3, 4], `detection_classes` [1, 3], `detection_scores` [1, 3] and
`num_detections` [1], all float32, out. Deterministic: the first row is a centred box whose class
follows the image's dominant colour (red -> 1 "person", green -> 18 "dog", blue -> 3 "car") with a
score that grows with how much that colour dominates; the second row is a fixed low-score
"bicycle"; the third is a padding row past `num_detections` = 2, as zoo exports pad.
"""

from __future__ import annotations

from pathlib import Path

RED_CLASS, GREEN_CLASS, BLUE_CLASS = 1, 18, 3
FIXED_CLASS, FIXED_SCORE = 2, 0.25


def build_tiny_model(base_dir: Path, version: int = 1) -> Path:
    """Write the SavedModel to `base_dir/<version>/` and return `base_dir`."""
    import tensorflow as tf

    class TinyDetector(tf.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.class_ids = tf.Variable([RED_CLASS, GREEN_CLASS, BLUE_CLASS], dtype=tf.float32)

        @tf.function(
            input_signature=[tf.TensorSpec([1, None, None, 3], tf.uint8, name="input_tensor")]
        )
        def serve(self, input_tensor: tf.Tensor) -> dict[str, tf.Tensor]:
            means = tf.reduce_mean(tf.cast(input_tensor, tf.float32), axis=[0, 1, 2])
            top = tf.argmax(means)
            share = means[top] / (tf.reduce_sum(means) + 1.0)
            score = tf.clip_by_value(0.3 + share, 0.0, 0.99)
            boxes = tf.constant(
                [[[0.25, 0.25, 0.75, 0.75], [0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 0.0, 0.0]]]
            )
            classes = tf.stack([tf.gather(self.class_ids, top), FIXED_CLASS, 1.0])[tf.newaxis]
            scores = tf.stack([score, FIXED_SCORE, 0.0])[tf.newaxis]
            return {
                "detection_boxes": boxes,
                "detection_classes": classes,
                "detection_scores": scores,
                "num_detections": tf.constant([2.0]),
            }

    module = TinyDetector()
    target = base_dir / str(version)
    tf.saved_model.save(module, str(target), signatures={"serving_default": module.serve})
    return base_dir
