"""The exporter's error type: a message for people, no traceback needed."""


class ExportError(RuntimeError):
    pass
