"""The backend client against the real backend interpreter: results, errors, cancel, broken set-ups."""

import importlib

import pytest
from conftest import REPO, REPO_BACKEND_PYTHON, plugin_package, wait_until


@pytest.fixture
def client_module(qgis_app):
    plugin_package()
    return importlib.import_module("s1ricemapper.plugin.backend_client")


@pytest.fixture
def real_client(client_module, backend_python_setting):
    return client_module.BackendClient(REPO_BACKEND_PYTHON, cwd=REPO)


def test_version_result_is_parsed(real_client):
    versions = real_client.call("version", timeout_s=60)
    assert versions["torch"] and versions["onnxruntime"]
    assert set(versions["gpu"]) >= {"available", "name"}


def test_user_error_event_carries_message_and_exit_code(real_client, client_module):
    with pytest.raises(client_module.BackendError) as caught:
        real_client.call("no-such-verb", timeout_s=60)
    failure = caught.value.failure
    assert failure.kind == "UserError" and failure.exit_code == 2
    assert "no-such-verb" in failure.message
    assert "no-such-verb" in failure.details()  # the command line is in the report


def test_missing_interpreter_fails_without_starting(client_module, tmp_path):
    client = client_module.BackendClient(tmp_path / "nowhere" / "python", cwd=REPO)
    with pytest.raises(client_module.BackendError) as caught:
        client.call("version", timeout_s=10)
    assert caught.value.failure.kind == "NotStarted"
    assert "does not exist" in caught.value.failure.message


def test_broken_interpreter_reports_stderr(client_module, broken_backend_python):
    client = client_module.BackendClient(broken_backend_python, cwd=REPO)
    with pytest.raises(client_module.BackendError) as caught:
        client.call("version", timeout_s=10)
    failure = caught.value.failure
    assert failure.exit_code == 1
    assert "incomplete" in failure.message and "No module named torch" in "\n".join(failure.stderr_tail)


def test_cancel_stops_the_process(real_client):
    run = real_client.run("version")
    outcome = []
    run.failed.connect(outcome.append)
    run.result.connect(outcome.append)
    run.start()
    assert wait_until(lambda: run.process.processId() > 0, 10)
    run.cancel()
    assert run.wait(20)
    assert len(outcome) == 1 and getattr(outcome[0], "cancelled", False)


def test_task_wrapper_follows_the_run(real_client, client_module):
    from qgis.core import QgsApplication

    run = real_client.run("version")
    results = []
    run.result.connect(results.append)
    task = client_module.BackendTask("check", run)
    completed = []
    task.taskCompleted.connect(lambda: completed.append(True))
    QgsApplication.taskManager().addTask(task)
    run.start()
    assert wait_until(lambda: completed, 60)
    assert results and "torch" in results[0]


def test_killed_process_is_reported_as_crash(real_client):
    import os
    import signal

    run = real_client.run("version")
    failures = []
    run.failed.connect(failures.append)
    run.start()
    assert wait_until(lambda: run.process.processId() > 0, 10)
    os.kill(run.process.processId(), signal.SIGKILL)  # as the kernel's out-of-memory killer would
    assert run.wait(20)
    assert failures and failures[0].kind == "Crashed"
    assert "memory" in failures[0].message and "version" in failures[0].details()


# --- the one session core both transports use -------------------------------------------------------------

@pytest.fixture
def session_module(qgis_app):
    plugin_package()
    return importlib.import_module("s1ricemapper.plugin.backend_session")


def _real_output(*argv: str):
    """What the real backend prints for ``argv`` (stdout bytes, stderr bytes, exit code)."""
    import subprocess

    done = subprocess.run([str(REPO_BACKEND_PYTHON), "-m", "backend", *argv, "--progress", "json"], cwd=REPO,
                          capture_output=True)
    return done.stdout, done.stderr, done.returncode


def test_session_renders_errors_in_the_callers_names(session_module):
    if not REPO_BACKEND_PYTHON.exists():
        pytest.skip("no backend environment")
    stdout, stderr, code = _real_output("map", "--tile", "0", "--out", "o")
    session = session_module.Session("map", ["python"], name_of=lambda key: f"<{key}>")
    for start in range(0, len(stdout), 7):  # the transport may hand over any piece of a line
        session.feed("stdout", stdout[start:start + 7])
    session.feed("stderr", stderr)
    session.close()
    failure = session.failure(code)
    assert code == session_module.EXIT_USER_ERROR == 2
    assert failure.kind == "UserError" and failure.param == "tile"
    assert failure.message.startswith("<tile> must be at least 16") and "--" not in failure.message
    assert failure.template.startswith("{param:tile}")
    assert any("--tile" in line for line in failure.stderr_tail)  # the CLI's wording stays for diagnostics


def test_session_keeps_stray_stdout_out_of_the_protocol(session_module):
    session = session_module.Session("version", ["python"])
    logs = []
    session.on_log = logs.append
    session.feed("stdout", b'not json\n{"event": "log", "message": "a", "template": "{param:as_of} a"}\n')
    session.feed("stdout", b'{"event": "result", "ok": true}')
    session.close()
    assert session.failure(0) is None and session.result == {"ok": True}
    assert logs == ["as of a"] and "(stdout) not json" in session.stderr_tail
    assert session.failure(session_module.EXIT_CANCELLED).kind == "Cancelled"
    assert session.failure(-9).kind == "Crashed"


def test_gui_run_names_the_dialog_field(real_client):
    run = real_client.run("map", ["--tile", "0", "--out", "o"])
    failures = []
    run.failed.connect(failures.append)
    run.start()
    assert run.wait(60) and failures
    failure = failures[0]
    assert failure.param == "tile" and failure.message.startswith("'Tile size (pixels)' must be at least 16")


def test_check_async_runs_the_backends_checks_and_writes_nothing(real_client, tmp_path):
    outcome = []
    real_client.check_async("map", ["--vv", str(tmp_path / "missing.tif"), "--out", str(tmp_path / "o")],
                            outcome.append, outcome.append)
    assert wait_until(lambda: outcome, 60)
    failure = outcome[0]
    assert failure.kind == "UserError" and "missing.tif" in failure.message and "--" not in failure.message
    assert list(tmp_path.iterdir()) == []
