"""Renderers for endpoints that stream a file: they let a client ask for the file's media type in
`Accept`, the file itself is a FileResponse, and problems (dicts) are still written as JSON."""

from rest_framework.renderers import BaseRenderer, JSONRenderer


class BinaryRenderer(BaseRenderer):
    media_type = "application/octet-stream"
    format = "bin"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else JSONRenderer().render(data)


class PNGRenderer(BinaryRenderer):
    media_type = "image/png"
    format = "png"


class PDFRenderer(BinaryRenderer):
    media_type = "application/pdf"
    format = "pdf"
