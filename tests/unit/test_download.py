import hashlib
import http.server
import socket
import threading
import urllib.error

import pytest

from cifar_noise import StudyError
from cifar_noise.download import download, verify_local_archive

PAYLOAD = b"cifar bytes " * 50_000


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/ok":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)
        elif self.path == "/short":  # promises more than it sends, then hangs up
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[:1000])
        else:
            self.send_error(404, "Not Found")

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


def test_http_download_with_checksum(server, tmp_path, capsys):
    dest = tmp_path / "a.tar.gz"
    download(f"{server}/ok", dest, hashlib.md5(PAYLOAD).hexdigest())
    assert dest.read_bytes() == PAYLOAD
    assert "(100%)" in capsys.readouterr().err
    assert leftovers(tmp_path) == ["a.tar.gz"]


def test_file_url_download(tmp_path):
    source = tmp_path / "src.bin"
    source.write_bytes(PAYLOAD)
    dest = tmp_path / "out" / "a.tar.gz"
    download(source.as_uri(), dest, hashlib.md5(PAYLOAD).hexdigest())
    assert dest.read_bytes() == PAYLOAD


@pytest.mark.fault(kind="bad download", real=True)
def test_wrong_checksum_leaves_nothing(server, tmp_path):
    with pytest.raises(StudyError, match="expected 0+"):
        download(f"{server}/ok", tmp_path / "a.tar.gz", "0" * 32)
    assert leftovers(tmp_path) == []


@pytest.mark.fault(kind="network", real=True)
def test_http_error(server, tmp_path):
    with pytest.raises(StudyError, match="HTTP 404"):
        download(f"{server}/missing", tmp_path / "a.tar.gz", None)
    assert leftovers(tmp_path) == []


@pytest.mark.fault(kind="network", real=True)
def test_truncated_transfer(server, tmp_path):
    with pytest.raises(StudyError, match="download of .* failed|stopped after"):
        download(f"{server}/short", tmp_path / "a.tar.gz", None)
    assert leftovers(tmp_path) == []


@pytest.mark.fault(kind="network", real=True)
def test_connection_refused(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StudyError, match="could not reach .*set data.archive"):
        download(f"http://127.0.0.1:{port}/x", tmp_path / "a.tar.gz", None)
    assert leftovers(tmp_path) == []


@pytest.mark.fault(kind="network", real=False)  # a fake opener raises the resolver's error
def test_no_network(tmp_path):
    def offline(url, timeout):
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    with pytest.raises(StudyError, match="name resolution.*data.archive"):
        download("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", tmp_path / "a.tar.gz", None, opener=offline)
    assert leftovers(tmp_path) == []


@pytest.mark.fault(kind="bad archive", real=True)
def test_local_archive_checks(tmp_path):
    archive = tmp_path / "local.tar.gz"
    with pytest.raises(StudyError, match="does not exist"):
        verify_local_archive(archive, None)
    archive.write_bytes(PAYLOAD)
    verify_local_archive(archive, None)
    verify_local_archive(archive, hashlib.md5(PAYLOAD).hexdigest())
    with pytest.raises(StudyError, match="has md5"):
        verify_local_archive(archive, "f" * 32)
    with pytest.raises(StudyError, match="not a readable file"):
        verify_local_archive(tmp_path, None)
