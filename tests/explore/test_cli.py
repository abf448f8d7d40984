"""``cnnlab explore`` on the command line: bad arguments give one clear line, never a traceback."""

from __future__ import annotations

import socket
import urllib.request

import pytest

from cnnlab.cli import main


def test_a_missing_run_dir_is_one_clear_line(tmp_path, capsys):
    assert main(["explore", "--run", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nope" in err and "does not exist" in err


def test_a_folder_that_is_not_a_run_is_one_clear_line(tmp_path, capsys):
    assert main(["explore", "--run", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not a cnnlab run directory" in err


def test_a_port_in_use_is_one_clear_line(capsys):
    pytest.importorskip("shiny")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["explore", "--port", str(port)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"127.0.0.1:{port}" in err and "--port" in err


def test_an_out_of_range_port_is_refused(capsys):
    assert main(["explore", "--port", "70000"]) == 1
    assert "between 0 and 65535" in capsys.readouterr().err


def test_the_server_binds_to_localhost_and_serves_the_page():
    pytest.importorskip("shiny")
    from tests.explore.conftest import start_explorer, stop

    proc, url = start_explorer()
    try:
        assert url.startswith("http://127.0.0.1:")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy for localhost
        with opener.open(url, timeout=10) as response:
            page = response.read().decode()
        assert "cnnlab explore" in page and "Convolution" in page and "Pooling" in page
    finally:
        stop(proc)
