"""An export's files served from the exports storage, with the same answers on pages and the API."""

from django.http import FileResponse, Http404

from reviewapp.lib import files

RETRY_AFTER_SECONDS = 30
STORE_DOWN = "The file store cannot be reached right now; nothing is lost. Try again in a minute."


class StoreUnavailable(Exception):
    pass


def file_response(obj, filename: str, **kwargs) -> FileResponse:
    """The file `filename` of `obj` (a version or a judge export) as an attachment, streamed from
    the storage. Http404 for a file it does not have; StoreUnavailable when the shared store
    cannot be reached (a 503 to the caller, not a 500)."""
    handle = None
    try:
        handle = obj.open_file(filename)
        if handle is None:
            raise Http404("No such file")
        return FileResponse(handle, as_attachment=True, filename=filename, **kwargs)
    except Exception as exc:
        if handle is not None:
            handle.close()
        if files.unreachable(exc):
            raise StoreUnavailable(STORE_DOWN) from exc
        raise
