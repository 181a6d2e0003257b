"""Downloading against a real HTTP server on 127.0.0.1: good files, bad
checksums, cut-off transfers, mirror fallback, and the MNIST plugin's use of it."""

import contextlib
import gzip
import hashlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pygan_plugins.mnist import ALL_FILES, SOURCES, IdxSource, load_split
from test_idx import idx_bytes, random_split

from pygan._contracts.messages import PyganError, UsageError
from pygan._files.atomic import WriteError
from pygan._files.download import cache_dir, download


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    """Serves ``server.files``: path -> body, or (body, claimed length) to cut the
    transfer short (None: no Content-Length), or (body, claimed length, seconds
    between bytes) to trickle it."""

    def do_GET(self):
        self.server.requests.append(self.path)
        if self.path in self.server.slow_headers:  # a header a byte at a time, never ending
            self.wfile.write(b"HTTP/1.0 200 OK\r\nX-Slow: ")
            with contextlib.suppress(ConnectionError):
                for _ in range(600):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(self.server.slow_headers[self.path])
            return
        if self.path in self.server.redirects:
            self.send_response(302)
            self.send_header("Location", self.server.redirects[self.path])
            self.end_headers()
            return
        entry = self.server.files.get(self.path)
        if entry is None:
            self.send_error(404)
            return
        body, length, pause = (*entry, 0)[:3] if isinstance(entry, tuple) else (entry, len(entry), 0)
        self.send_response(200)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        # HTTP/1.0: the connection closes after the body, short or not.
        if not pause:
            self.wfile.write(body)
            return
        with contextlib.suppress(ConnectionError):  # the client gave up
            for byte in body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(pause)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.requests, httpd.redirects, httpd.slow_headers = {}, [], {}, {}
    httpd.url = f"http://127.0.0.1:{httpd.server_port}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def refused_url():
    """A URL on 127.0.0.1 where nothing listens, as when offline."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


BODY = b"pixels " * 1000


def test_a_good_file_lands_in_place(server, tmp_path):
    server.files["/a/data.bin"] = BODY
    destination = tmp_path / "cache" / "data.bin"
    download([server.url + "/a/data.bin"], sha256(BODY), destination)
    assert destination.read_bytes() == BODY
    assert [p.name for p in destination.parent.iterdir()] == ["data.bin"]


def test_a_checksum_mismatch_leaves_nothing_behind(server, tmp_path):
    server.files["/data.bin"] = BODY
    destination = tmp_path / "cache" / "data.bin"
    with pytest.raises(PyganError) as caught:
        download([server.url + "/data.bin"], sha256(b"other bytes"), destination)
    assert str(caught.value) == (
        f"could not download data.bin:\n  {server.url}/data.bin: checksum mismatch: "
        f"expected SHA-256 {sha256(b'other bytes')}, got {sha256(BODY)}"
    )
    assert list(destination.parent.iterdir()) == []


def test_an_interrupted_transfer_leaves_nothing_behind(server, tmp_path):
    server.files["/data.bin"] = (BODY[:1000], len(BODY))
    destination = tmp_path / "cache" / "data.bin"
    with pytest.raises(PyganError) as caught:
        download([server.url + "/data.bin"], sha256(BODY), destination)
    assert f"{server.url}/data.bin: transfer interrupted: got 1000 of {len(BODY)} bytes" in str(caught.value)
    assert list(destination.parent.iterdir()) == []


def test_the_next_mirror_is_tried_when_one_fails(server, tmp_path):
    server.files["/bad/data.bin"] = b"corrupted"
    server.files["/short/data.bin"] = (BODY[:10], len(BODY))
    server.files["/good/data.bin"] = BODY
    destination = tmp_path / "data.bin"
    mirrors = [server.url + path for path in ("/missing/data.bin", "/bad/data.bin", "/short/data.bin", "/good/data.bin")]
    download(mirrors, sha256(BODY), destination)
    assert destination.read_bytes() == BODY
    assert server.requests == ["/missing/data.bin", "/bad/data.bin", "/short/data.bin", "/good/data.bin"]


def test_redirects_are_followed_to_http_urls_only(server, tmp_path):
    server.files["/good/data.bin"] = BODY
    server.redirects["/moved/data.bin"] = "/good/data.bin"
    server.redirects["/to-ftp/data.bin"] = "ftp://127.0.0.1/data.bin"
    with pytest.raises(PyganError, match="redirected to ftp://127.0.0.1/data.bin, which is not an http"):
        download([server.url + "/to-ftp/data.bin"], sha256(BODY), tmp_path / "data.bin")
    download([server.url + "/to-ftp/data.bin", server.url + "/moved/data.bin"], sha256(BODY), tmp_path / "data.bin")
    assert (tmp_path / "data.bin").read_bytes() == BODY
    assert server.requests[-3:] == ["/to-ftp/data.bin", "/moved/data.bin", "/good/data.bin"]


def test_when_every_mirror_fails_each_is_named_with_its_reason(server, refused_url, tmp_path):
    mirrors = [server.url + "/missing.bin", refused_url + "/data.bin"]
    with pytest.raises(PyganError) as caught:
        download(mirrors, sha256(BODY), tmp_path / "data.bin")
    lines = str(caught.value).splitlines()
    assert lines[0] == "could not download data.bin:"
    assert lines[1] == f"  {server.url}/missing.bin: HTTP 404 Not Found"
    assert lines[2].startswith(f"  {refused_url}/data.bin: ") and "refused" in lines[2]
    assert list(tmp_path.iterdir()) == []


def test_a_trickling_mirror_is_given_up_at_the_deadline_and_the_next_one_tried(server, tmp_path):
    server.files["/slow/data.bin"] = (BODY, len(BODY), 0.05)
    server.files["/good/data.bin"] = BODY
    started = time.monotonic()
    download([server.url + "/slow/data.bin", server.url + "/good/data.bin"], sha256(BODY), tmp_path / "data.bin",
             timeout=5, deadline=0.5)
    assert time.monotonic() - started < 3
    assert (tmp_path / "data.bin").read_bytes() == BODY


def test_a_trickling_mirror_fails_naming_the_deadline(server, tmp_path):
    server.files["/slow/data.bin"] = (BODY, len(BODY), 0.05)
    with pytest.raises(PyganError, match=r"/slow/data.bin: too slow: \d+ bytes in 0.5 s"):
        download([server.url + "/slow/data.bin"], sha256(BODY), tmp_path / "data.bin", timeout=5, deadline=0.5)
    assert list(tmp_path.iterdir()) == []


def test_a_mirror_trickling_its_headers_is_given_up_at_the_deadline(server, tmp_path):
    server.slow_headers["/slow/data.bin"] = 0.05  # each byte well within the timeout
    server.files["/good/data.bin"] = BODY
    server.redirects["/moved/data.bin"] = "/slow/data.bin"
    started = time.monotonic()
    with pytest.raises(PyganError, match=r"/moved/data.bin: too slow: 0 bytes in 0.5 s"):
        download([server.url + "/moved/data.bin"], sha256(BODY), tmp_path / "data.bin", timeout=5, deadline=0.5)
    download([server.url + "/slow/data.bin", server.url + "/good/data.bin"], sha256(BODY), tmp_path / "data.bin",
             timeout=5, deadline=0.5)
    assert time.monotonic() - started < 10  # the server would trickle for 30 s
    assert (tmp_path / "data.bin").read_bytes() == BODY


@pytest.mark.parametrize("claimed, message", [
    (len(BODY), f"offers {len(BODY):,} bytes, more than the 1,000 expected at most"),
    (None, "sent more than the 1,000 bytes expected at most"),  # no Content-Length: counted as it comes
])
def test_a_mirror_sending_more_than_the_cap_is_refused(server, tmp_path, claimed, message):
    server.files["/big.bin"] = (BODY, claimed)
    with pytest.raises(PyganError) as caught:
        download([server.url + "/big.bin"], sha256(BODY), tmp_path / "big.bin", max_bytes=1000)
    assert f"{server.url}/big.bin: {message}" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("url, message", [
    ("ftp://example.org/data.bin", "is not supported: give an http:// or https:// URL"),
    ("file:///etc/passwd", "is not supported: give an http:// or https:// URL"),
    ("example.org/data.bin", "is not supported: give an http:// or https:// URL"),
    ("http:///data.bin", "is not supported: give an http:// or https:// URL with a host name"),
    ("http://example.org:port/data.bin", "is malformed (Port could not be cast to integer value"),
    ("http://[::1/data.bin", "is malformed (Invalid IPv6 URL)"),
])
def test_unsupported_and_malformed_urls_are_usage_errors_before_any_request(server, tmp_path, url, message):
    with pytest.raises(UsageError) as caught:
        download([server.url + "/data.bin", url], sha256(BODY), tmp_path / "data.bin")
    assert str(caught.value).startswith(f"mirror URL {url!r} {message}")
    assert server.requests == []


def test_a_full_disk_is_not_a_mirror_failure(server, tmp_path, full_disk):
    server.files["/a/data.bin"] = server.files["/b/data.bin"] = BODY
    destination = tmp_path / "data.bin"
    with pytest.raises(WriteError) as caught:
        download([server.url + "/a/data.bin", server.url + "/b/data.bin"], sha256(BODY), destination)
    assert str(caught.value).startswith(f"cannot write {destination}: No space left on device; free space")
    assert server.requests == ["/a/data.bin"]  # no other mirror can help
    assert list(tmp_path.iterdir()) == []


def test_cache_dir_follows_pygan_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("PYGAN_DATA_DIR", str(tmp_path))
    assert cache_dir() == tmp_path
    monkeypatch.delenv("PYGAN_DATA_DIR")
    assert cache_dir() == Path.home() / ".cache" / "pygan"


def _tiny_idx_data_set(server) -> tuple[IdxSource, dict]:
    """Serve four small gzipped IDX files and describe them as a data set."""
    served = {}
    for split, n in (("train", 6), ("test", 3)):
        images, labels = random_split(n)
        served[f"{split}-images"], served[f"{split}-labels"] = images, labels
    arrays = dict(zip(ALL_FILES, (served["train-images"], served["train-labels"],
                                  served["test-images"], served["test-labels"])))
    checksums = {}
    for name, array in arrays.items():
        packed = gzip.compress(idx_bytes(array))
        server.files[f"/tiny/{name}.gz"] = packed
        checksums[name] = sha256(packed)
    source = IdxSource(name="tiny", mirrors=(server.url + "/nothing-here/", server.url + "/tiny/"), sha256=checksums)
    return source, served


def test_an_idx_data_set_downloads_into_the_cache_once(server, tmp_path, monkeypatch):
    monkeypatch.setenv("PYGAN_DATA_DIR", str(tmp_path))
    source, served = _tiny_idx_data_set(server)
    images, labels = load_split(source, None)
    assert images.shape == (6, 1, 28, 28)
    assert labels.tolist() == served["train-labels"].tolist()
    assert sorted(p.name for p in (tmp_path / "tiny").iterdir()) == sorted(f"{name}.gz" for name in ALL_FILES)
    requests = len(server.requests)
    test_images, _ = load_split(source, None, "test")
    assert test_images.shape == (3, 1, 28, 28)
    assert len(server.requests) == requests  # served from the cache


def test_mirrors_can_be_replaced_by_an_environment_variable(server, tmp_path, monkeypatch):
    monkeypatch.setenv("PYGAN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PYGAN_FASHION_MNIST_MIRRORS", f"{server.url}/one/, {server.url}/two")
    assert SOURCES["fashion-mnist"].urls("x.gz") == [f"{server.url}/one/x.gz", f"{server.url}/two/x.gz"]
    # The genuine checksums still apply: a mirror serving other bytes is refused.
    server.files["/one/train-images-idx3-ubyte.gz"] = b"not the real file"
    with pytest.raises(PyganError, match=f"{server.url}/one/train-images-idx3-ubyte.gz: checksum mismatch"):
        load_split(SOURCES["fashion-mnist"], None)
    assert list((tmp_path / "fashion-mnist").iterdir()) == []


def test_offline_with_nothing_found_says_where_it_looked_and_what_to_do(refused_url, tmp_path, monkeypatch):
    monkeypatch.setenv("PYGAN_DATA_DIR", str(tmp_path))
    # Fashion-MNIST: MNIST would fall back to the test split pygan ships.
    monkeypatch.setenv("PYGAN_FASHION_MNIST_MIRRORS", f"{refused_url}/a/,{refused_url}/b/")
    with pytest.raises(PyganError) as caught:
        load_split(SOURCES["fashion-mnist"], None)
    message = str(caught.value)
    assert message.startswith("no fashion-mnist data found.")
    assert f"cache folder {tmp_path / 'fashion-mnist'}: missing train-images-idx3-ubyte" in message
    assert f"{refused_url}/a/train-images-idx3-ubyte.gz: " in message
    assert f"{refused_url}/b/train-images-idx3-ubyte.gz: " in message
    assert "--data-dir DIR" in message and "PYGAN_DATA_DIR" in message and "PYGAN_FASHION_MNIST_MIRRORS" in message
