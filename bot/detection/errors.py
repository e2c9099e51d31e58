"""Typed failures of the detection pipeline; each carries a short `kind` and a user-facing line.

`user_message` is an English message id of the catalog: translate it where it is shown
(`tr.gettext(error.user_message)`).
"""

from __future__ import annotations

from bot.i18n import N_


class DetectionError(Exception):
    """Base: `kind` is stored with failed detections; `user_message` is what a person is told,
    `short_message` how /history names the failure."""

    kind = "error"
    short_message = N_("error")
    user_message = N_("Something went wrong while detecting objects. Please try again.")

    def __init__(self, detail: str = "", user_message: str | None = None) -> None:
        super().__init__(detail or self.user_message)
        self.detail = detail or self.user_message
        if user_message is not None:
            self.user_message = user_message


class ImageError(DetectionError):
    """The input is not a usable image. Never retried."""

    kind = "bad_image"
    short_message = N_("unreadable image")
    user_message = N_("That file is not an image I can read.")


class EmptyImage(ImageError):
    kind = "empty_image"
    short_message = N_("empty file")
    user_message = N_("That file is empty.")


class NotAnImage(ImageError):
    kind = "not_an_image"
    short_message = N_("not an image")
    user_message = N_("That file is not an image. Send a JPEG, PNG, WebP, BMP or GIF.")


class CorruptImage(ImageError):
    kind = "corrupt_image"
    short_message = N_("damaged image")
    user_message = N_("That image is damaged or incomplete. Please send it again.")


class ImageTooLarge(ImageError):
    kind = "image_too_large"
    short_message = N_("image too large")
    user_message = N_("That image is too large. Please send a smaller one.")


class ImageTooSmall(ImageError):
    kind = "image_too_small"
    short_message = N_("image too small")
    user_message = N_("That image is too small to find anything in.")


class DetectorError(DetectionError):
    """The detector failed; the image itself may be fine."""

    kind = "detector_error"
    short_message = N_("detector error")
    user_message = N_("The detector had a problem. Please try again in a minute.")


class DetectorUnavailable(DetectorError):
    kind = "detector_unavailable"
    short_message = N_("detector unreachable")
    user_message = N_("The detector is not reachable right now. Please try again in a minute.")


class ServableNotFound(DetectorUnavailable):
    """The server is up but has no version of this model (not loaded yet, or gone from its
    config): another model may still answer."""


class DetectorTimeout(DetectorError):
    kind = "detector_timeout"
    short_message = N_("detector too slow")
    user_message = N_("The detector took too long. Please try again in a minute.")


class ModelNotFound(DetectorError):
    kind = "model_not_found"
    short_message = N_("model not loaded")
    user_message = N_("The detection model is not loaded right now. Please try again later.")


class InvalidModelInput(DetectorError):
    kind = "invalid_model_input"
    short_message = N_("image refused by the detector")
    user_message = N_("The detector refused this image. Please try another one.")


class DetectorOutputError(DetectorError):
    kind = "bad_model_output"
    short_message = N_("unexpected detector answer")
    user_message = N_("The detector returned an unexpected answer. Please try again later.")


class DownloadFailed(DetectionError):
    """Telegram would not hand over the file."""

    kind = "download_failed"
    short_message = N_("download failed")
    user_message = N_("I couldn't download that file from Telegram. Please send it again.")


class InternalError(DetectionError):
    """A bug on our side; recorded like any failure so it shows in the failure rate."""

    kind = "internal_error"
    short_message = N_("internal error")
    user_message = N_("Sorry, something went wrong on my side. Please try again.")


def short_message_for(kind: str | None) -> str:
    """The `short_message` of the error class whose `kind` this is (a stored failure's), or the
    generic one for kinds no class has (any longer)."""
    pending: list[type[DetectionError]] = [DetectionError]
    while pending:
        error_class = pending.pop()
        if error_class.kind == kind:
            return error_class.short_message
        pending.extend(error_class.__subclasses__())
    return DetectionError.short_message
