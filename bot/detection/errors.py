"""Typed failures of the detection pipeline; each carries a short `kind` and a user-facing line."""

from __future__ import annotations


class DetectionError(Exception):
    """Base: `kind` is stored with failed detections; `user_message` is what a person is told."""

    kind = "error"
    user_message = "Something went wrong while detecting objects. Please try again."

    def __init__(self, detail: str = "", user_message: str | None = None) -> None:
        super().__init__(detail or self.user_message)
        self.detail = detail or self.user_message
        if user_message is not None:
            self.user_message = user_message


class ImageError(DetectionError):
    """The input is not a usable image. Never retried."""

    kind = "bad_image"
    user_message = "That file is not an image I can read."


class EmptyImage(ImageError):
    kind = "empty_image"
    user_message = "That file is empty."


class NotAnImage(ImageError):
    kind = "not_an_image"
    user_message = "That file is not an image. Send a JPEG, PNG, WebP, BMP or GIF."


class CorruptImage(ImageError):
    kind = "corrupt_image"
    user_message = "That image is damaged or incomplete. Please send it again."


class ImageTooLarge(ImageError):
    kind = "image_too_large"
    user_message = "That image is too large. Please send a smaller one."


class ImageTooSmall(ImageError):
    kind = "image_too_small"
    user_message = "That image is too small to find anything in."


class DetectorError(DetectionError):
    """The detector failed; the image itself may be fine."""

    kind = "detector_error"
    user_message = "The detector had a problem. Please try again in a minute."


class DetectorUnavailable(DetectorError):
    kind = "detector_unavailable"
    user_message = "The detector is not reachable right now. Please try again in a minute."


class ServableNotFound(DetectorUnavailable):
    """The server is up but has no version of this model (not loaded yet, or gone from its
    config): another model may still answer."""


class DetectorTimeout(DetectorError):
    kind = "detector_timeout"
    user_message = "The detector took too long. Please try again in a minute."


class ModelNotFound(DetectorError):
    kind = "model_not_found"
    user_message = "The detection model is not loaded right now. Please try again later."


class InvalidModelInput(DetectorError):
    kind = "invalid_model_input"
    user_message = "The detector refused this image. Please try another one."


class DetectorOutputError(DetectorError):
    kind = "bad_model_output"
    user_message = "The detector returned an unexpected answer. Please try again later."
