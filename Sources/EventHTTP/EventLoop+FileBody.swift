internal import CLibevent
internal import Glibc

extension EventLoop {
    static let fileWriteSize = 4 << 20

    /// Sends headers, then the file region straight from the connection's output buffer.
    ///
    /// The file goes into the bufferevent's own output (flagged EVBUFFER_FLAG_DRAINS_TO_FD), where
    /// evbuffer_add_file keeps it as a sendfile segment; added to the request's output buffer
    /// instead, libevent would mmap the whole file (RSS as large as the object). Content-Length is
    /// set first, so evhttp_send_reply_start frames the body by length, not chunked; and
    /// evhttp_send_reply_end finishes the request once the output buffer has drained, which is when
    /// the on-complete callback (already set by `send`) runs.
    func sendFile(_ file: FileBody, status: Int, on request: UnsafeMutablePointer<evhttp_request>, _ connection: Connection) {
        let outputHeaders = evhttp_request_get_output_headers(request)
        evhttp_remove_header(outputHeaders, "Content-Length")
        evhttp_add_header(outputHeaders, "Content-Length", String(file.length))
        Self.reasonPhrase(status).withCString { reason in
            evhttp_send_reply_start(request, Int32(status), reason)
        }
        if let fd = file.take() {
            if file.length > 0, let evcon = evhttp_request_get_connection(request),
                let bufferevent = evhttp_connection_get_bufferevent(evcon),
                evbuffer_add_file(bufferevent_get_output(bufferevent), fd, file.offset, file.length) == 0
            {
                // libevent writes at most 16 KiB per callback by default; a sendfile(2) of a few MiB
                // per loop iteration lets a large download run at the disk's or the socket's pace.
                bufferevent_set_max_single_write(bufferevent, Self.fileWriteSize)
                // libevent owns the descriptor now and closes it when the segment is sent.
            } else {
                if file.length > 0 { log("could not queue a file body; closing the connection") }
                close(fd)
                if file.length > 0, let evcon = evhttp_request_get_connection(request) {
                    // The promised Content-Length cannot be honoured: the client must see a short body.
                    evhttp_connection_free(evcon)
                    return
                }
            }
        }
        evhttp_send_reply_end(request)
    }
}
